//! Session sync messages on arbitrary bytes: the parser and the authenticated receiver
//! refuse with a reason, never panic. With the first byte odd, the rest is taken as the
//! body of a `Conns` message under a valid header and tag, so the record parser behind the
//! tag is reached too; whatever it accepts must survive a re-encode unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use rvs_core::sync::{
    wire::MIN_MESSAGE_LEN, Authenticator, Body, ClusterKey, Header, Kind, Outgoing, Receiver, ReceiverConfig,
    SyncMessage, CONN_F_METHOD, HEADER_LEN, TAG_LEN,
};
use rvs_core::time::Time;

fn key() -> ClusterKey {
    ClusterKey::from_config("hex:000102030405060708090a0b0c0d0e0f").unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let mut rx = Receiver::new(ReceiverConfig::new(51, 2), &key());
    if mode & 1 == 0 {
        let _ = SyncMessage::parse(rest);
        assert!(rx.receive(rest, Time::ZERO).is_err(), "an unsigned message was accepted");
        assert_eq!(rx.refused().total(), 1);
        return;
    }
    // A sealed message around `rest` as the body; the count is the second byte.
    let len = HEADER_LEN + rest.len().min(60_000) + TAG_LEN;
    let body = &rest[..len - HEADER_LEN - TAG_LEN];
    let mut msg = vec![0u8; len];
    msg[HEADER_LEN..len - TAG_LEN].copy_from_slice(body);
    let count = u16::from(mode >> 1);
    let h = Header { kind: Kind::Conns, sync_id: 51, flags: 0, sender: 9, epoch: 1, seq: 1, count };
    assert!(len >= MIN_MESSAGE_LEN);
    h.emit(len, &mut msg).unwrap();
    let auth: Authenticator = key().authenticator();
    auth.seal(&mut msg);
    match rx.receive(&msg, Time::ZERO) {
        Ok(m) => {
            let Body::Conns(c) = m.body else { panic!("not conns") };
            let recs: Vec<_> = c.iter().collect();
            assert_eq!(recs.len(), count as usize);
            for r in &recs {
                // One forwarding method at most; NAT, DR and TUN name the client as local.
                let method = r.flags & CONN_F_METHOD;
                assert!(method.count_ones() <= 1, "two methods accepted: {:#x}", r.flags);
                assert!(method == 0 || r.local == r.client, "a direct record with a local address");
            }
            let mut again = vec![0u8; len + 16];
            let n = SyncMessage::emit(&m.header, &Outgoing::Conns(&recs), &auth, &mut again).unwrap();
            let back = SyncMessage::parse(&again[..n]).unwrap();
            let Body::Conns(c2) = back.body else { panic!("not conns") };
            assert!(c2.iter().eq(recs.iter().copied()));
            // The same message again is a replay.
            assert!(rx.receive(&msg, Time::ZERO).is_err());
        }
        Err(_) => assert_eq!(rx.refused().total(), 1),
    }
});
