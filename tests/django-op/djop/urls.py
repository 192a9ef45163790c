from django.contrib.auth import views as auth_views
from django.urls import include, path

urlpatterns = [
    # The provider's own login form (Django's LoginView, template registration/login.html).
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    # The issuer is SITE_URL + "/openid", as in django-oidc-provider's documentation.
    path("openid/", include("oidc_provider.urls", namespace="oidc_provider")),
]
