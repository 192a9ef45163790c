use proptest::prelude::*;
use serde_json::{Value, json};

use super::config::Unmatched;
use super::explain::{MAX_EXPLAINED_MATCHES, MAX_EXPLAINED_PER_RULE};
use super::glob::glob_match;
use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

/// AudioBookRequest: admins → admin, users → trusted, anyone else → untrusted.
fn abr() -> RoleMap {
    RoleMapConfig::new()
        .rule("users", "trusted")
        .rule("admins", "admin")
        .order(["untrusted", "trusted", "admin"])
        .default_role("untrusted")
        .build()
        .unwrap()
}

fn granted(decision: &RoleDecision) -> Vec<String> {
    decision.roles().expect("granted").to_vec()
}

// --- configuration ---------------------------------------------------------------------

#[test]
fn rules_as_table_or_list() {
    let table: RoleMapConfig = toml::from_str(
        r#"
        rules = { admins = "admin", users = "trusted", "team-*" = "trusted" }
        order = "untrusted, trusted admin"
        default = "untrusted"
        overrides = [{ user = "alice", role = "admin" }]
        "#,
    )
    .unwrap();
    assert_eq!(table.rules.0.len(), 3);
    assert_eq!(
        table.order.as_deref(),
        Some(&strings(&["untrusted", "trusted", "admin"])[..])
    );
    assert_eq!(table.default, Some(Unmatched::Role("untrusted".into())));
    RoleMap::new(table).unwrap();

    let list: RoleMapConfig = toml::from_str(
        r#"
        rules = [{ group = "zeta", role = "z" }, { group = "alpha", role = "a" }, { group = "zeta", role = "a" }]
        default = "deny"
        "#,
    )
    .unwrap();
    let groups: Vec<&str> = list.rules.0.iter().map(|r| r.group.as_str()).collect();
    assert_eq!(groups, ["zeta", "alpha", "zeta"], "list order is kept");
    assert_eq!(list.default, Some(Unmatched::Deny));

    let json: RoleMapConfig =
        serde_json::from_str(r#"{"rules": {"admins": "admin"}, "order": ["user", "admin"]}"#)
            .unwrap();
    assert_eq!(
        json,
        RoleMapConfig::new()
            .rule("admins", "admin")
            .order(["user", "admin"])
    );
    assert_eq!(
        RoleMapConfig::new().default_role("DENY"),
        RoleMapConfig::new().deny_unmatched()
    );
}

#[test]
fn unknown_keys_and_wrong_shapes_are_rejected() {
    for bad in [
        "rule = { a = 'b' }",
        "rules = [{ group = 'a', role = 'b', extra = 1 }]",
        "rules = [{ group = 'a' }]",
        "rules = 'admins=admin'",
        "rules = { a = 1 }",
        "overrides = [{ username = 'a', role = 'b' }]",
        "default = 1",
    ] {
        assert!(toml::from_str::<RoleMapConfig>(bad).is_err(), "{bad}");
    }
    assert_eq!(
        toml::from_str::<RoleMapConfig>("").unwrap(),
        RoleMapConfig::new()
    );
}

#[test]
fn validation_names_the_bad_entry() {
    let order = ["untrusted", "trusted", "admin"];
    let err = |c: RoleMapConfig| RoleMap::new(c).unwrap_err().to_string();
    assert_eq!(
        err(RoleMapConfig::new()
            .rule("users", "trusted")
            .rule("admins", "root")
            .order(order)),
        r#"rules[1] ("admins" = "root"): role `root` is not in `order`"#
    );
    assert_eq!(
        err(RoleMapConfig::new().order(order).default_role("guest")),
        "default: role `guest` is not in `order`"
    );
    assert_eq!(
        err(RoleMapConfig::new()
            .order(order)
            .user_override("alice", "root")),
        r#"overrides[0] (user "alice"): role `root` is not in `order`"#
    );
    assert_eq!(
        err(RoleMapConfig::new().rule(" ", "admin")),
        r#"rules[0] (" " = "admin"): the group pattern is empty"#
    );
    assert!(err(RoleMapConfig::new().rule("admins", "")).contains("rules[0]"));
    assert!(err(RoleMapConfig::new().rule("banned", "deny")).contains("`deny` is not a role name"));
    assert!(err(RoleMapConfig::new().user_override("", "admin")).contains("the user is empty"));
    assert_eq!(
        err(RoleMapConfig::new().order(["a", "b", "a"])),
        "order: role `a` is listed twice"
    );
    assert_eq!(
        err(RoleMapConfig::new().order(Vec::<String>::new())),
        "order: the list is empty"
    );
    assert!(err(RoleMapConfig::new().rule("x", "bad\nrole")).contains("control characters"));
    let mut many = RoleMapConfig::new();
    for i in 0..=MAX_RULES {
        many = many.rule(format!("g{i}"), "r");
    }
    assert_eq!(err(many), "rules: 1001 rules, at most 1000 are allowed");
    let mut enough = RoleMapConfig::new();
    for i in 0..MAX_RULES {
        enough = enough.rule(format!("g{i}"), "r");
    }
    assert!(RoleMap::new(enough).is_ok());
    // Without an order any role name is fine.
    assert!(
        RoleMap::new(
            RoleMapConfig::new()
                .rule("a", "anything")
                .default_role("guest")
        )
        .is_ok()
    );
}

#[test]
fn errors_name_the_entry_and_the_problem() {
    let err = |c: RoleMapConfig| RoleMap::new(c).unwrap_err();
    let e = err(RoleMapConfig::new().rule("admins", " "));
    assert_eq!(
        (e.entry.as_str(), &e.problem),
        (r#"rules[0] ("admins" = " ")"#, &RoleMapProblem::EmptyRole)
    );
    let e = err(RoleMapConfig::new()
        .order(["a"])
        .user_override(" bob ", "b"));
    assert_eq!(e.entry, r#"overrides[0] (user " bob ")"#);
    assert_eq!(e.problem, RoleMapProblem::NotInOrder { role: "b".into() });
    let e = err(RoleMapConfig::new().order(["a", " Deny "]));
    assert_eq!(
        (e.entry.as_str(), e.problem),
        ("order[1]", RoleMapProblem::ReservedRole)
    );
    let e = err(RoleMapConfig::new().default_role("a\u{7}"));
    assert_eq!(e.entry, "default");
    assert_eq!(
        e.problem,
        RoleMapProblem::ControlCharacters {
            role: "a\u{7}".into()
        }
    );
    let many = (0..=MAX_RULES).fold(RoleMapConfig::new(), |c, i| {
        c.user_override(format!("u{i}"), "r")
    });
    let e = err(many);
    assert_eq!(e.entry, "overrides");
    assert_eq!(
        e.problem,
        RoleMapProblem::TooManyOverrides {
            count: MAX_RULES + 1
        }
    );
    assert_eq!(
        e.to_string(),
        "overrides: 1001 overrides, at most 1000 are allowed"
    );
}

// --- decisions -------------------------------------------------------------------------

#[test]
fn audiobookrequest_mapping() {
    let map = abr();
    assert_eq!(
        granted(&map.decide(&strings(&["users"]), "bob", "b")),
        ["trusted"]
    );
    assert_eq!(
        granted(&map.decide(&strings(&["Admins"]), "al", "a")),
        ["admin"]
    );
    assert_eq!(
        granted(&map.decide(&strings(&["ADMINS", "offline_access"]), "al", "a")),
        ["admin"]
    );
    assert_eq!(
        granted(&map.decide(&strings(&["staff"]), "carol", "c")),
        ["untrusted"]
    );
    assert_eq!(granted(&map.decide(&[], "carol", "c")), ["untrusted"]);
    // In both groups: admin, whatever the order of groups or of rules.
    let reversed = RoleMapConfig::new()
        .rule("admins", "admin")
        .rule("users", "trusted")
        .order(["untrusted", "trusted", "admin"])
        .default_role("untrusted")
        .build()
        .unwrap();
    for m in [&map, &reversed] {
        for groups in [["users", "admins"], ["admins", "users"]] {
            assert_eq!(granted(&m.decide(&strings(&groups), "dan", "d")), ["admin"]);
        }
    }
}

#[test]
fn without_order_every_role_in_rule_order() {
    let map = RoleMapConfig::new()
        .rule("editors", "edit")
        .rule("admins", "admin")
        .rule("team-*", "edit")
        .rule("*", "read")
        .build()
        .unwrap();
    let d = map.decide(&strings(&["team-x", "admins", "editors"]), "u", "s");
    assert_eq!(granted(&d), ["edit", "admin", "read"]);
    assert!(!d.explanation().picked_by_order);
    // `*` means any group, not "no groups": an empty value is no group.
    assert!(granted(&map.decide(&strings(&[""]), "u", "s")).is_empty());
    let empty = RoleMapConfig::new()
        .rule("admins", "admin")
        .build()
        .unwrap();
    let d = empty.decide(&strings(&["users"]), "u", "s");
    assert_eq!(granted(&d), Vec::<String>::new());
    assert_eq!(d.explanation().unmatched, Some(UnmatchedAction::NoRole));
}

#[test]
fn globs_and_case() {
    let map = RoleMapConfig::new()
        .rule("team-*", "member")
        .rule("ops-?", "ops")
        .rule("*-ADMINS", "admin")
        .rule("café", "coffee")
        .build()
        .unwrap();
    let roles = |g: &str| granted(&map.decide(&[g.to_owned()], "u", "s"));
    assert_eq!(roles("team-"), ["member"]);
    assert_eq!(roles("Team-Blue"), ["member"]);
    assert_eq!(roles("my-team-blue"), Vec::<String>::new());
    assert_eq!(roles("ops-1"), ["ops"]);
    assert_eq!(roles("ops-"), Vec::<String>::new());
    assert_eq!(roles("ops-12"), Vec::<String>::new());
    assert_eq!(roles("media-admins"), ["admin"]);
    assert_eq!(roles("team-x-admins"), ["member", "admin"]);
    assert_eq!(roles("CAFÉ"), ["coffee"]);
    assert_eq!(roles("cafe"), Vec::<String>::new());
    // An exact pattern is not a prefix.
    let exact = RoleMapConfig::new()
        .rule("admins", "admin")
        .build()
        .unwrap();
    assert!(
        granted(&exact.decide(&strings(&["admins2", "xadmins", "admin"]), "u", "s")).is_empty()
    );
}

#[test]
fn glob_matcher_edges() {
    let m = |p: &str, t: &str| {
        glob_match(
            &p.chars().collect::<Vec<_>>(),
            &t.chars().collect::<Vec<_>>(),
        )
    };
    assert!(m("", ""));
    assert!(!m("", "a"));
    assert!(m("*", ""));
    assert!(m("**", "abc"));
    assert!(!m("?", ""));
    assert!(m("a*b*c", "aXbYc"));
    assert!(m("a*b*c", "abbbc"));
    assert!(!m("a*b*c", "acb"));
    assert!(m("*ab", "aab"));
    assert!(m("?é", "ñé"));
    // Pathological for backtracking matchers; quadratic at worst here.
    let text = "a".repeat(MAX_CLAIM_VALUE_LEN);
    assert!(!m(
        &"*a"
            .repeat(40)
            .chars()
            .chain("b".chars())
            .collect::<String>(),
        &text
    ));
    assert!(m(&"*a".repeat(40), &text));
}

#[test]
fn deny_refuses_unmatched_users() {
    let map = RoleMapConfig::new()
        .rule("admins", "admin")
        .deny_unmatched()
        .user_override("breakglass-sub", "admin")
        .build()
        .unwrap();
    let d = map.decide(&strings(&["staff"]), "mallory", "m");
    assert!(matches!(d, RoleDecision::Denied { .. }));
    assert_eq!(d.roles(), None);
    let e = d.explanation();
    assert!(e.denied && e.roles.is_empty());
    assert_eq!(e.unmatched, Some(UnmatchedAction::Deny));
    assert!(
        e.to_string()
            .ends_with("login denied (default = deny)\ndenied"),
        "{e}"
    );
    assert_eq!(serde_json::to_value(&d).unwrap()["decision"], "denied");
    // An override counts as a match.
    assert_eq!(granted(&map.decide(&[], "x", "breakglass-sub")), ["admin"]);
    assert_eq!(
        granted(&map.decide(&strings(&["admins"]), "x", "y")),
        ["admin"]
    );
}

#[test]
fn overrides_match_sub_exactly_and_username_ignoring_case() {
    let map = RoleMapConfig::new()
        .rule("admins", "admin")
        .rule("users", "trusted")
        .order(["untrusted", "trusted", "admin"])
        .default_role("untrusted")
        .user_override("Alice", "admin")
        .user_override("Sub-123", "trusted")
        .build()
        .unwrap();
    let d = map.decide(&[], "alice", "zzz");
    assert_eq!(granted(&d), ["admin"]);
    assert_eq!(d.explanation().overrides[0].matched_on, MatchedOn::Username);
    assert!(
        d.explanation()
            .to_string()
            .contains("override for \"Alice\" (by username) -> admin")
    );
    let d = map.decide(&[], "someone", "Sub-123");
    assert_eq!(granted(&d), ["trusted"]);
    assert_eq!(d.explanation().overrides[0].matched_on, MatchedOn::Sub);
    // The sub is case-sensitive.
    assert_eq!(
        granted(&map.decide(&[], "someone", "sub-123")),
        ["untrusted"]
    );
    // Overrides add and never demote; the order still picks the top.
    assert_eq!(
        granted(&map.decide(&strings(&["admins"]), "x", "Sub-123")),
        ["admin"]
    );
    // Empty username or sub never match.
    assert_eq!(granted(&map.decide(&[], "", "")), ["untrusted"]);
    // Only ASCII case is ignored: look-alikes that Unicode folds to ASCII never match.
    let kate = RoleMapConfig::new()
        .user_override("kate", "admin")
        .build()
        .unwrap();
    assert_eq!(granted(&kate.decide(&[], "KATE", "s")), ["admin"]);
    for spoof in ["\u{212A}ate", "\u{212A}ATE"] {
        assert!(granted(&kate.decide(&[], spoof, "s")).is_empty(), "{spoof}");
    }
    // A non-ASCII override matches exactly that name, never another one it folds with.
    let kelvin = RoleMapConfig::new()
        .user_override("\u{212A}ate", "admin")
        .build()
        .unwrap();
    assert!(granted(&kelvin.decide(&[], "kate", "s")).is_empty());
    assert_eq!(granted(&kelvin.decide(&[], "\u{212A}ate", "s")), ["admin"]);
    // Without an order, override roles come after rule roles.
    let plain = RoleMapConfig::new()
        .rule("users", "user")
        .user_override("bob", "ops")
        .build()
        .unwrap();
    assert_eq!(
        granted(&plain.decide(&strings(&["users"]), "BOB", "b")),
        ["user", "ops"]
    );
}

#[test]
fn rank_satisfies_and_implied() {
    let map = abr();
    assert_eq!(
        map.order(),
        Some(&strings(&["untrusted", "trusted", "admin"])[..])
    );
    assert_eq!(map.rank("untrusted"), Some(0));
    assert_eq!(map.rank("admin"), Some(2));
    assert_eq!(map.rank("root"), None);
    let admin = strings(&["admin"]);
    assert!(
        map.satisfies(&admin, "admin")
            && map.satisfies(&admin, "trusted")
            && map.satisfies(&admin, "untrusted")
    );
    let trusted = strings(&["trusted"]);
    assert!(!map.satisfies(&trusted, "admin"));
    assert!(!map.satisfies(&[], "untrusted"));
    assert!(!map.satisfies(&admin, "root"));
    assert!(map.satisfies(&strings(&["root"]), "root"));
    assert_eq!(map.implied_by(&admin), ["untrusted", "trusted"]);
    assert_eq!(
        map.implied_by(&strings(&["untrusted"])),
        Vec::<String>::new()
    );
    assert_eq!(
        map.implied_by(&strings(&["trusted", "untrusted"])),
        Vec::<String>::new()
    );
    assert_eq!(map.implied_by(&[]), Vec::<String>::new());

    let plain = RoleMapConfig::new()
        .rule("a", "x")
        .rule("b", "y")
        .build()
        .unwrap();
    assert_eq!(plain.rank("x"), None);
    assert!(plain.satisfies(&strings(&["x", "y"]), "y"));
    assert!(!plain.satisfies(&strings(&["x"]), "y"));
    assert!(plain.implied_by(&strings(&["x"])).is_empty());
}

#[test]
fn explanation_lines_and_json() {
    let map = RoleMapConfig::new()
        .rule("users", "trusted")
        .rule("team-*", "trusted")
        .rule("admins", "admin")
        .order(["untrusted", "trusted", "admin"])
        .default_role("untrusted")
        .build()
        .unwrap();
    let d = map.decide(
        &strings(&["team-b", "Admins", "team-a", "users", "team-a"]),
        "u",
        "s",
    );
    assert_eq!(
        d.explanation().to_string(),
        "checked 4 claim values\n\
         group \"users\" matched rule \"users\" -> trusted\n\
         group \"team-a\" matched rule \"team-*\" -> trusted\n\
         group \"team-b\" matched rule \"team-*\" -> trusted\n\
         group \"Admins\" matched rule \"admins\" -> admin\n\
         most privileged in the role order: admin (matched trusted, admin)\n\
         roles: admin"
    );
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["decision"], "granted");
    assert_eq!(json["roles"], json!(["admin"]));
    let e = &json["explanation"];
    assert_eq!(e["values_checked"], 4);
    assert_eq!(
        e["matches"][3],
        json!({ "value": "Admins", "rule": 2, "pattern": "admins", "role": "admin" })
    );
    assert_eq!(e["matched_roles"], json!(["trusted", "admin"]));
    assert_eq!(e["picked_by_order"], true);
    assert_eq!(e["unmatched"], Value::Null);
    assert_eq!(e["denied"], false);

    let d = map.decide(&strings(&["x"]), "u", "s");
    assert_eq!(
        d.explanation().to_string(),
        "checked 1 claim value\nno rule or override matched: default role untrusted\nroles: untrusted"
    );
    let e = serde_json::to_value(d.explanation()).unwrap();
    assert_eq!(
        e["unmatched"],
        json!({ "action": "default_role", "role": "untrusted" })
    );

    let none = RoleMapConfig::new()
        .rule("a", "b")
        .build()
        .unwrap()
        .decide(&[], "u", "s");
    assert!(
        none.explanation()
            .to_string()
            .ends_with("there is no default\nroles: none")
    );
}

#[test]
fn hostile_group_values() {
    let map = RoleMapConfig::new()
        .rule("*admins*", "admin")
        .rule("users", "user")
        .rule("x*", "x")
        .build()
        .unwrap();
    // A value with a newline cannot forge an explanation line.
    let d = map.decide(
        &strings(&["x\ngroup \"users\" matched rule \"users\" -> user\nroles: user"]),
        "u",
        "s",
    );
    let text = d.explanation().to_string();
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains(r#"group "x\ngroup \"users\""#), "{text}");
    assert_eq!(granted(&d), ["x"]);
    // Over-long values are ignored (they could not come from claim_values anyway).
    let long = format!("{}admins", "a".repeat(MAX_CLAIM_VALUE_LEN));
    assert!(granted(&map.decide(&[long], "u", "s")).is_empty());
    // Many long values against globs stay fast enough (quadratic bound, not exponential).
    let values: Vec<String> = (0..MAX_CLAIM_VALUES)
        .map(|i| format!("{i}{}", "a".repeat(1000)))
        .collect();
    let d = map.decide(&values, "u", "s");
    assert!(granted(&d).is_empty());
    assert_eq!(d.explanation().values_checked, MAX_CLAIM_VALUES);

    // A catch-all rule matching every value: roles are complete, the listing is bounded.
    let map = RoleMapConfig::new()
        .rule("*", "member")
        .rule("g1*", "g1")
        .rule("zzz", "z")
        .build()
        .unwrap();
    let values: Vec<String> = (0..MAX_CLAIM_VALUES).map(|i| format!("g{i}")).collect();
    let mut with_last = values.clone();
    with_last.push("zzz".to_owned());
    let d = map.decide(&with_last, "u", "s");
    assert_eq!(granted(&d), ["member", "g1", "z"]);
    let e = d.explanation();
    assert_eq!(e.matches.len(), 7);
    assert_eq!(
        e.matches.iter().filter(|m| m.rule == 0).count(),
        MAX_EXPLAINED_PER_RULE
    );
    assert_eq!(e.matches.last().map(|m| m.value.as_str()), Some("zzz"));
    let g1_hits = values.iter().filter(|v| v.starts_with("g1")).count();
    // `*` matches all 1025 values, `g1*` the g1… ones, `zzz` one; 7 are listed.
    assert_eq!(e.matches_omitted, (MAX_CLAIM_VALUES + 1) + g1_hits + 1 - 7);
    assert!(e.to_string().lines().count() < 12);
    assert!(
        e.to_string()
            .contains(&format!("... and {} more matches", e.matches_omitted))
    );
    let many_rules = (0..100).fold(RoleMapConfig::new(), |c, i| c.rule(format!("g{i}"), "r"));
    let e = many_rules
        .build()
        .unwrap()
        .decide(&values, "u", "s")
        .explanation()
        .clone();
    assert_eq!(
        (e.matches.len(), e.matches_omitted),
        (MAX_EXPLAINED_MATCHES, 100 - MAX_EXPLAINED_MATCHES)
    );
}

// --- properties ------------------------------------------------------------------------

/// The obviously correct (exponential) matcher.
fn reference_glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| reference_glob(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && reference_glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && reference_glob(rest, &text[1..]),
    }
}

fn reference_top(rules: &[(String, usize)], groups: &[String]) -> String {
    let top = rules
        .iter()
        .filter(|(pattern, _)| {
            let p: Vec<char> = pattern.to_lowercase().chars().collect();
            groups
                .iter()
                .filter(|g| !g.is_empty())
                .any(|g| reference_glob(&p, &g.to_lowercase().chars().collect::<Vec<_>>()))
        })
        .map(|(_, rank)| *rank)
        .max()
        .unwrap_or(0);
    format!("r{top}")
}

fn arb_rules() -> impl Strategy<Value = Vec<(String, usize)>> {
    prop::collection::vec(("[aAb*?]{1,4}", 0..3usize), 0..6)
}

fn ordered_map(rules: &[(String, usize)], ordered: bool) -> RoleMap {
    let mut config = RoleMapConfig::new();
    for (pattern, rank) in rules {
        config = config.rule(pattern.clone(), format!("r{rank}"));
    }
    if ordered {
        config = config.order(["r0", "r1", "r2"]).default_role("r0");
    }
    config.build().unwrap()
}

/// A list of groups and the same list shuffled.
fn arb_groups_twice() -> impl Strategy<Value = (Vec<String>, Vec<String>)> {
    prop::collection::vec("[aAbB]{0,5}", 0..8)
        .prop_flat_map(|g| (Just(g.clone()), Just(g).prop_shuffle()))
}

proptest! {
    #[test]
    fn glob_agrees_with_reference(pattern in "[ab*?]{0,8}", text in "[ab]{0,10}") {
        let p: Vec<char> = pattern.chars().collect();
        let t: Vec<char> = text.chars().collect();
        prop_assert_eq!(glob_match(&p, &t), reference_glob(&p, &t));
    }

    #[test]
    fn decisions_ignore_the_order_of_groups(
        rules in arb_rules(),
        (groups, shuffled) in arb_groups_twice(),
        ordered in any::<bool>(),
    ) {
        let map = ordered_map(&rules, ordered);
        prop_assert_eq!(map.decide(&groups, "u", "s"), map.decide(&shuffled, "u", "s"));
    }

    #[test]
    fn with_order_the_result_is_the_maximum(rules in arb_rules(), groups in prop::collection::vec("[aAbB]{0,5}", 0..8)) {
        let map = ordered_map(&rules, true);
        let roles = map.decide(&groups, "u", "s").roles().map(<[String]>::to_vec);
        prop_assert_eq!(roles, Some(vec![reference_top(&rules, &groups)]));
    }
}
