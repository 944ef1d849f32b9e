use super::*;
use crate::keepalived::{load_str_with, Loaded};

fn opts(id: &str) -> Options {
    Options { config_id: Some(id.into()) }
}

/// The lines keepalived's parser would see, as "LINE: text".
fn lines(text: &str) -> Vec<String> {
    try_lines(text).unwrap_or_else(|e| panic!("{e}"))
}

fn try_lines(text: &str) -> Result<Vec<String>, ParseError> {
    let f: Arc<Path> = PathBuf::from("t.conf").into();
    let mut diags = Vec::new();
    let mut pre = Pre::new(&opts("lb1"), &mut diags);
    pre.text(&f, text, 0)?;
    Ok(pre.out.iter().map(|l| format!("{}: {}", l.loc.line, l.text)).collect())
}

fn ok(text: &str) -> Loaded {
    match load_str_with("k.conf", text, &opts("lb1")) {
        Ok(l) => l,
        Err(e) => panic!("{:?}", e.lines()),
    }
}

#[test]
fn comments_blanks_and_escapes() {
    assert_eq!(
        lines("  # c\n\n\tweight 3 ! x\nmisc_path \"/a # b\" # c\nauth_pass ab\\#c\n"),
        ["3: weight 3", "4: misc_path \"/a # b\"", "5: auth_pass ab\\#c"]
    );
}

#[test]
fn conditional_lines_follow_the_config_id() {
    let t = "@lb1 priority 150\n@^lb1 priority 100\n@lb2 priority 50\n@^lb2 state BACKUP\n@lb1\n";
    assert_eq!(lines(t), ["1: priority 150", "4: state BACKUP"]);
}

#[test]
fn conditional_lines_reach_the_model() {
    // The MASTER/BACKUP pair's one file: each director takes its own priority. Before
    // keepalived's `@` lines were read, both were warned about and the priority was 100.
    let conf = "vrrp_instance VI_1 {\n interface eth0\n virtual_router_id 51\n@lb1 priority 150\n@lb2 priority 100\n@lb1 state MASTER\n virtual_ipaddress {\n  198.18.0.10\n }\n}\n";
    let c = ok(conf).config;
    assert_eq!((c.vrrp.instances[0].priority, c.vrrp.instances[0].initial_master), (150, true));
    let c = load_str_with("k.conf", conf, &opts("lb2")).unwrap().config;
    assert_eq!((c.vrrp.instances[0].priority, c.vrrp.instances[0].initial_master), (100, false));
}

#[test]
fn definitions_and_their_use() {
    let t = "$W=3\n$VIP=198.18.0.10 # the VIP\n$EMPTY=\nweight $W\nvirtual_server ${VIP} 80 {\nx $EMPTY,$W)\nkeep $WX $1 $HOME ${W\n";
    assert_eq!(
        lines(t),
        ["4: weight 3", "5: virtual_server 198.18.0.10 80 {", "6: x ,3)", "7: keep $WX $1 $HOME ${W"]
    );
}

#[test]
fn definitions_may_use_definitions_and_braces() {
    let t = "$A=198.18\n$VIP=${A}.0.10\n$CHECK=TCP_CHECK { connect_timeout 3 }\nvs $VIP 80 { $CHECK }\n";
    assert_eq!(lines(t), ["4: vs 198.18.0.10 80 { TCP_CHECK { connect_timeout 3 } }"]);
}

#[test]
fn multi_line_definitions_expand_lazily() {
    // keepalived's man page example: a definition redefined between uses of another.
    let t = "$RS= \\\n  real_server 198.18.2.${N} 80 { \\\n    weight ${N} \\\n  }\n\n$VS= \\\nvirtual_server 198.18.0.10 80 { \\\n  $N=1 \\\n  $RS \\\n  $N=2 \\\n  $RS \\\n}\n$VS\n";
    assert_eq!(
        lines(t),
        [
            "13: virtual_server 198.18.0.10 80 {",
            "13: real_server 198.18.2.1 80 {",
            "13: weight 1",
            "13: }",
            "13: real_server 198.18.2.2 80 {",
            "13: weight 2",
            "13: }",
            "13: }"
        ]
    );
}

#[test]
fn a_multi_line_definition_only_at_the_end_of_a_line() {
    let t = "$M=a \\\nb\n$M x\nsay $M\n";
    assert_eq!(lines(t), ["3: $M x", "4: say a", "4: b"]);
}

#[test]
fn a_definition_that_uses_itself_is_an_error() {
    let e = try_lines("$A=x $A\ny $A\n").unwrap_err();
    assert!(e.to_string().starts_with("t.conf:2: "), "{e}");
}

#[test]
fn builtin_definitions() {
    std::env::set_var("RVS_PREPROC_TEST", "v");
    assert_eq!(
        lines("a \"${_HASH} ${_BANG}\" $_INSTANCE ${_ENV RVS_PREPROC_TEST}\n"),
        ["1: a \"# !\" lb1 v"]
    );
    // `${_PWD}`: the file's directory, absolute as keepalived's (it reads a file from
    // there), even when `-f` named the file by a relative path.
    let cwd = std::env::current_dir().unwrap().canonicalize().unwrap();
    assert_eq!(lines("a ${_PWD}\n"), [format!("1: a {}", cwd.display())]);
    assert_eq!(super::file_dir(std::path::Path::new("src/k.conf")), cwd.join("src").display().to_string());
    // As keepalived: outside quotes, what a definition makes is decommented again.
    assert_eq!(lines("a ${_HASH} b\n"), ["1: a"]);
}

#[test]
fn seq_forms() {
    assert_eq!(lines("~SEQ(i, 3) a $i\n"), ["1: a 1", "1: a 2", "1: a 3"]);
    assert_eq!(lines("~SEQ(i, 5, 4) a $i\n"), ["1: a 5", "1: a 4"]);
    assert_eq!(lines("~SEQ(i, 10, 5, 20) a $i\n"), ["1: a 10", "1: a 15", "1: a 20"]);
    assert_eq!(
        lines("~SEQx(i, 0x9, 0x1, 0xb) 2001:db8::${i}\n"),
        ["1: 2001:db8::9", "1: 2001:db8::a", "1: 2001:db8::b"]
    );
    assert_eq!(lines("$N=2\n~SEQ(i, 1, $N) a $i\n"), ["2: a 1", "2: a 2"]);
    assert_eq!(lines("~SEQ(a, 1, 2) ~SEQ(b, 1, 2) ${a}.${b}\n"), ["1: 1.1", "1: 1.2", "1: 2.1", "1: 2.2"]);
    // Bounds far apart are refused, not an overflow; the last value is reached exactly.
    assert!(try_lines("~SEQ(i, -9223372036854775807, 9223372036854775807) x\n").is_err());
    assert_eq!(lines("~SEQ(i, 9223372036854775806, 9223372036854775807) $i\n").len(), 2);
    for bad in ["~SEQ(i)", "~SEQ(i, 1, 0, 3) x", "~SEQ(i, 1, 2 x", "~SEQ(i, 1, -1, 3) x", "~SEQx(i, -3) x"] {
        let e = try_lines(&format!("{bad}\n")).unwrap_err();
        assert!(e.to_string().starts_with("t.conf:1: "), "{e}");
    }
}

#[test]
fn lst_forms() {
    assert_eq!(lines("~LST(v, a, b) x $v\n"), ["1: x a", "1: x b"]);
    assert_eq!(
        lines("~LST({IP, P}, {10,80},{20}) 198.18.0.${IP} ${P}\n"),
        ["1: 198.18.0.10 80", "1: 198.18.0.20"]
    );
    assert!(try_lines("~LST(v) x\n").is_err());
    assert!(try_lines("~LST({a}, {1, 2}) x\n").is_err());
}

#[test]
fn seq_makes_real_servers() {
    // Before ~SEQ was read, the line was an unknown keyword: a virtual server with no
    // real servers, and a warning only.
    let c = ok("virtual_server 198.18.0.10 80 {\n lb_kind NAT\n lb_algo rr\n~SEQ(i, 1, 3) real_server 198.18.2.$i 80 { weight $i }\n}\n").config;
    let rs: Vec<String> =
        c.virtual_servers[0].reals.iter().map(|r| format!("{} {}", r.addr, r.weight)).collect();
    assert_eq!(rs, ["198.18.2.1:80 1", "198.18.2.2:80 2", "198.18.2.3:80 3"]);
    assert_eq!(c.virtual_servers[0].reals[2].loc.line, 4);
}

#[test]
fn includes_with_brace_alternatives_share_definitions() {
    let dir = crate::testutil::TempDir::new("brace");
    std::fs::create_dir_all(dir.path().join("conf.d")).unwrap();
    for (n, p) in [("a", 80), ("b", 81), ("c", 82)] {
        std::fs::write(
            dir.path().join(format!("conf.d/{n}.conf")),
            format!("virtual_server $VIP {p} {{\n lb_kind NAT\n lb_algo rr\n real_server 198.18.2.1 {p} {{ weight 1 }}\n}}\n"),
        )
        .unwrap();
    }
    let main = dir.path().join("main.conf");
    std::fs::write(&main, "$VIP=198.18.0.10\ninclude conf.d/{b,a}.conf\n").unwrap();
    let l = crate::keepalived::load_with(&main, &opts("lb1")).unwrap();
    let ports: Vec<u16> = l.config.virtual_servers.iter().map(|v| v.key.addr.port()).collect();
    assert_eq!(ports, [81, 80], "in the order of the alternatives");
    assert!(l.config.virtual_servers[0].loc.file.ends_with("conf.d/b.conf"));
    // includer needs a match; include only warns.
    std::fs::write(&main, "includer conf.d/none*.conf\n").unwrap();
    let e = crate::keepalived::load(&main).unwrap_err();
    assert!(
        e.lines()[0].contains("main.conf:1: includer \"conf.d/none*.conf\" matches no file"),
        "{:?}",
        e.lines()
    );
}

#[test]
fn brace_expansion() {
    assert_eq!(expand_braces("a{b,c{d,e}}f"), ["abf", "acdf", "acef"]);
    assert_eq!(expand_braces("x{y"), ["x{y"]);
}
