//! The response body of [`OidcService`](crate::OidcService): the inner service's body, or a
//! page the layer wrote itself.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::pages::PageBody;

/// Boxed error of [`ResponseBody`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pin_project! {
    /// Either the inner service's body or one of the layer's own pages.
    #[project = ResponseBodyProj]
    #[allow(missing_docs)] // pin-project-lite cannot document variant fields: `body` is the body
    pub enum ResponseBody<B> {
        /// The inner service answered.
        Inner { #[pin] body: B },
        /// The layer answered (redirect, error page, problem+json).
        Page { #[pin] body: PageBody },
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn inner(body: B) -> Self {
        Self::Inner { body }
    }
    pub(crate) fn page(body: PageBody) -> Self {
        Self::Page { body }
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.project() {
            ResponseBodyProj::Inner { body } => body.poll_frame(cx).map_err(Into::into),
            ResponseBodyProj::Page { body } => body.poll_frame(cx).map_err(|never| match never {}),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Inner { body } => body.is_end_stream(),
            Self::Page { body } => body.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Inner { body } => body.size_hint(),
            Self::Page { body } => body.size_hint(),
        }
    }
}
