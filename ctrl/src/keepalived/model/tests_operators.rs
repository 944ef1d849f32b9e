//! Constructs from operators' keepalived.conf files (LVS/DR and NAT pairs, DPVS), as
//! keepalived 2.2 reads them.

use crate::keepalived::{load_str, Loaded};

fn ok(text: &str) -> Loaded {
    match load_str("k.conf", text) {
        Ok(l) => l,
        Err(e) => panic!("{:?}", e.lines()),
    }
}

fn errors(text: &str) -> Vec<String> {
    match load_str("k.conf", text) {
        Ok(_) => panic!("accepted"),
        Err(e) => e.lines(),
    }
}

fn nat(body: &str) -> String {
    format!("virtual_server 198.18.0.10 80 {{\n lb_kind NAT\n lb_algo wrr\n{body}\n}}\n")
}

#[test]
fn virtual_server_weight_is_the_real_servers_default() {
    // keepalived 2: `weight` in a virtual_server is the weight of each real server that
    // sets none. It was an unknown keyword (ignored), so those servers had weight 1.
    let l = ok(&nat(
        " weight 5\n real_server 198.18.2.1 80 { }\n real_server 198.18.2.2 80 { weight 2 }\n quorum 7",
    ));
    let vs = &l.config.virtual_servers[0];
    let w: Vec<u32> = vs.reals.iter().map(|r| r.weight).collect();
    assert_eq!(w, [5, 2]);
    assert_eq!(vs.quorum, 7, "quorum counts the inherited weight");
    assert!(l.diags.iter().all(|d| !d.msg.contains("weight")), "{:?}", l.diags);
    let e = errors(&nat(" weight 0\n real_server 198.18.2.1 80 { }"));
    assert!(e[0].starts_with("k.conf:4: 'weight' of a virtual_server"), "{e:?}");
}
