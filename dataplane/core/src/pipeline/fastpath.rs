//! The burst stages and the established fast path (as DPDK l3fwd and VPP do).
//!
//! Stage 0 prefetches every frame's headers; stage 1 classifies and hashes every frame of
//! a burst and prefetches its index bucket, then the slot the bucket points at, so the
//! cache misses of a burst overlap instead of coming one packet at a time. Stage 2
//! takes the frames in arrival order: a packet of an established session that needs
//! nothing but the rewrite (no state change, no extension, a cached next hop) is
//! forwarded by `established`, which checks everything before it changes anything; any
//! other packet goes the full way of `dispatch` / `handle`, which counts every drop.

use super::classify::FastMeta;
use super::*;
use crate::neigh::EthHop;
use crate::session::{Hint, KeyWords, FLAG_DR, FLAG_TUN};

/// A burst's per-frame state, as the stages leave it: entries past what a stage wrote for
/// this burst hold an earlier burst's (stage 1b writes every hint).
pub(super) struct BurstState {
    metas: [FastMeta; BURST],
    hints: [Hint; BURST],
    vlan: [(IfIndex, usize); BURST],
    txs: [IfIndex; BURST],
}

impl Default for BurstState {
    fn default() -> Self {
        BurstState {
            metas: [FastMeta::default(); BURST],
            hints: [Hint::NONE; BURST],
            vlan: [(0, 0); BURST],
            txs: [0; BURST],
        }
    }
}

/// `burst_stages`' `SIDE` on a port with VLANs: each frame's interface's side.
const PER_FRAME: u8 = 3;

/// The frames a burst mask names, lowest first.
#[inline(always)]
fn frames_of(mut mask: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        (mask != 0).then(|| {
            let i = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            i
        })
    })
}

/// What stage 2c needs of stages 1 and 2a: the burst's frames `from..n` are left.
struct Rest<'a> {
    from: usize,
    n: usize,
    fast: u32,
    untagged: u32,
    metas: &'a [FastMeta; BURST],
    hints: &'a [Hint; BURST],
    vlan: &'a [(IfIndex, usize); BURST],
}

impl<P: Frame> Pipeline<P> {
    /// Where the lookups of interface `iface`'s packets look first: where its last burst's
    /// flows were found.
    #[inline(always)]
    pub(super) fn lookup_side(&self, iface: IfIndex) -> LookupSide {
        self.lookup_sides.get(iface as usize).copied().unwrap_or_default()
    }

    /// Notes where stage 1b found the flows of the burst's frames (`hints`: client flows in
    /// the tags, replies in the index), interface by interface, for the next bursts' stage
    /// 1a to prefetch there. A port of one kind of traffic (either arm of a two-arm
    /// director) prefetches one line a packet; a port of both (one arm) prefetches both.
    #[inline(never)]
    fn learn_sides<const VLANS: bool>(
        &mut self,
        port: PortIndex,
        hints: &[Hint; BURST],
        untagged: u32,
        vlan: &[(IfIndex, usize); BURST],
    ) {
        let mask =
            |of: fn(Hint) -> bool| hints.iter().enumerate().fold(0u32, |m, (i, &h)| m | (of(h) as u32) << i);
        // A guess from home (not NONE, not FARTHER), odd for a client flow's entry.
        let odd = mask(|h| h.low_bit() == 1);
        let mut left = mask(|h| h != Hint::NONE && h != Hint::FARTHER);
        while left != 0 {
            // The frames of one interface: all of them, but on a port with VLANs.
            let first = left.trailing_zeros() as usize;
            let iface_of = |i: usize| if VLANS && untagged >> i & 1 == 1 { vlan[i].0 } else { port };
            let iface = iface_of(first);
            let same = if VLANS && untagged & left != 0 {
                frames_of(left).filter(|&i| iface_of(i) == iface).fold(0, |m, i| m | 1 << i)
            } else {
                left
            };
            left &= !same;
            let (client, reply) = ((same & odd).count_ones(), (same & !odd).count_ones());
            if client + reply == 0 {
                continue;
            }
            // The minority's packets wait on memory when they are not prefetched: worth a
            // second line a packet once they are one in eight.
            let side = if reply * 8 < client {
                LookupSide::Client
            } else if client * 8 < reply {
                LookupSide::Reply
            } else {
                LookupSide::Both
            };
            // One per interface from the start: nothing grows on the packet path.
            if let Some(s) = self.lookup_sides.get_mut(iface as usize) {
                *s = side;
            }
        }
    }

    /// Handles a burst of frames received on `port`, in stages. A SYN still creates the
    /// session its ACK in the same burst finds, since stage 2 keeps arrival order.
    /// Drains `frames`.
    pub fn handle_burst(
        &mut self,
        port: PortIndex,
        frames: &mut Vec<P>,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        // A port without VLANs runs the stages without a thought for tags (a tagged frame
        // there, a priority tag, goes the full way of `handle`), and with the side its
        // lookups try first a constant of their loops.
        if self.vlan_ifaces[port as usize].is_empty() {
            match self.lookup_side(port) {
                LookupSide::Client => self.burst_stages::<false, 0>(port, frames, now, alloc, out),
                LookupSide::Reply => self.burst_stages::<false, 1>(port, frames, now, alloc, out),
                LookupSide::Both => self.burst_stages::<false, 2>(port, frames, now, alloc, out),
            }
        } else {
            self.burst_stages::<true, PER_FRAME>(port, frames, now, alloc, out)
        }
    }

    /// The stages; `VLANS`: the port has VLANs, whose frames lose their tags first.
    /// `SIDE`: where the lookups look first (`LookupSide as u8`), or `PER_FRAME`, each
    /// frame's interface's. Out of line: each variant is a loop of its own.
    #[inline(never)]
    fn burst_stages<const VLANS: bool, const SIDE: u8>(
        &mut self,
        port: PortIndex,
        frames: &mut Vec<P>,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        while !frames.is_empty() {
            let n = frames.len().min(BURST);
            // Stage 0: every frame's headers on their way into the cache at once.
            for pkt in &frames[..n] {
                pkt.prefetch();
            }
            let mut st = self.burst.take().unwrap_or_default();
            let BurstState { metas, hints, vlan, txs } = &mut *st;
            let (fast, untagged) = self.stage_classify::<VLANS, SIDE>(port, &mut frames[..n], metas, vlan);
            // An HA master's loop counts client packets towards session sync (and stage 1b
            // prefetches the sessions' sync marks); the others' do not test for it a packet.
            macro_rules! forward {
                ($sync:literal) => {{
                    self.stage_hint::<$sync, SIDE>(fast, metas, hints);
                    // Every eighth burst of a port tells where the next ones look first.
                    if let Some(n) = self.side_bursts.get_mut(port as usize) {
                        *n = n.wrapping_add(1);
                        if *n % 8 == 1 {
                            self.learn_sides::<VLANS>(port, hints, untagged, vlan);
                        }
                    }
                    self.stage_forward::<VLANS, $sync>(
                        &mut frames[..n],
                        metas,
                        hints,
                        untagged,
                        vlan,
                        now,
                        out,
                        txs,
                    )
                }};
            }
            let run = if self.sync.is_some() { forward!(true) } else { forward!(false) };
            // Stage 2b: the run to its TX queues, in order, before anything after it; in one
            // move when it all leaves by one port (a burst of one side's traffic).
            let first = txs[0] as usize;
            // Without an early exit, so that the compiler compares the run in vectors.
            let same = txs[..run].iter().fold(0, |d, &t| d | (t ^ txs[0])) == 0;
            let one_port = (first < self.nports && same).then(|| out.tx.get_mut(first)).flatten();
            if let Some(q) = one_port {
                if run == frames.len() {
                    // The whole vector (a burst of at most 32): one copy of its pointers.
                    q.append(frames);
                } else {
                    q.extend(frames.drain(..run));
                }
            } else {
                for (pkt, &tx) in frames.drain(..run).zip(txs.iter()) {
                    self.xmit(tx, pkt, out);
                }
            }
            // Stage 2c: the rest, one by one in arrival order.
            if run < n {
                let rest = Rest { from: run, n, fast, untagged, metas, hints, vlan };
                self.burst_rest::<VLANS>(port, frames, rest, now, alloc, out);
            }
            self.burst = Some(st);
        }
    }

    /// Stage 1a: classify and hash every frame, prefetch its line of client tags or its
    /// index bucket, or both (the interface's `LookupSide`). A frame of one
    /// of the port's VLANs loses its tag first (`vlan.rs`), so that it can take the fast
    /// path too; one that cannot is left tagged for `handle`. Returns the frames
    /// classified and those untagged, as bit masks. Each stage is a function of its own
    /// (out of line), so that each loop has the registers to itself.
    #[inline(never)]
    fn stage_classify<const VLANS: bool, const SIDE: u8>(
        &self,
        port: PortIndex,
        frames: &mut [P],
        metas: &mut [FastMeta; BURST],
        vlan: &mut [(IfIndex, usize); BURST],
    ) -> (u32, u32) {
        let (mut fast, mut untagged) = (0u32, 0u32);
        let port_header =
            self.ifaces.get(port as usize).map_or(u128::MAX, |i| classify::header_template(i.mac.0));
        let port_side = if SIDE == PER_FRAME { self.lookup_side(port) } else { LookupSide::of(SIDE) };
        for ((i, pkt), meta) in frames.iter_mut().enumerate().zip(metas.iter_mut()) {
            let (mut header, mut side) = (port_header, port_side);
            if VLANS && vlan::is_tagged(pkt.data()) {
                let Ok(v) = self.vlan_iface(port, pkt.data()) else { continue };
                let len = pkt.data().len();
                if !crate::frame::pop_vlan(pkt) {
                    continue;
                }
                (vlan[i], untagged) = ((v, len), untagged | 1 << i);
                header =
                    self.ifaces.get(v as usize).map_or(u128::MAX, |i| classify::header_template(i.mac.0));
                if SIDE == PER_FRAME {
                    side = self.lookup_side(v);
                }
            }
            if self.classify_fast_meta(header, pkt, meta).is_some() {
                if SIDE == PER_FRAME {
                    meta.side = side;
                }
                self.sessions.prefetch_home(meta.hash, side);
                fast |= 1 << i;
            }
        }
        (fast, untagged)
    }

    /// Stage 1b: the tags or buckets are on their way; prefetch the slots they point at,
    /// keeping the guess for stage 2's lookup (of the packets `established` may take: a
    /// SYN's first lookup is `dispatch`'s, whose bucket and new slot are prefetched here).
    /// A reply whose home bucket overflowed and has no guess there (one in fifty at a full
    /// table) gets one from the next bucket, fetched in a second pass, so that its lookup
    /// does not wait on memory twice. `SYNC`: an HA master's, which prefetches each
    /// guessed slot's sync mark too.
    #[inline(never)]
    fn stage_hint<const SYNC: bool, const SIDE: u8>(
        &self,
        fast: u32,
        metas: &[FastMeta; BURST],
        hints: &mut [Hint; BURST],
    ) {
        // NONE for the frames stage 2 may not take, in one go.
        *hints = [Hint::NONE; BURST];
        let sync = if SYNC { self.sync.as_deref() } else { None };
        for i in frames_of(fast) {
            if !Self::may_be_established(&metas[i]) {
                if metas[i].tcp_flags & (TCP_SYN | TCP_ACK | TCP_FIN | TCP_RST) == TCP_SYN {
                    self.sessions.prefetch_new(metas[i].hash);
                }
                continue;
            }
            let side = if SIDE == PER_FRAME { metas[i].side } else { LookupSide::of(SIDE) };
            hints[i] = match sync {
                Some(st) => self
                    .sessions
                    .hint_prefetching_and(metas[i].hash, side, |slot| rvs_cpu::prefetch(st.mark_line(slot))),
                None => self.sessions.hint_prefetching(metas[i].hash, side),
            };
        }
        // Which guesses were FARTHER, found after the loop (a few vector compares a
        // burst) so that the loop keeps its registers for the lookups.
        let farther =
            hints.iter().enumerate().fold(0u32, |m, (i, &h)| m | ((h == Hint::FARTHER) as u32) << i);
        if farther != 0 {
            self.stage_hint_farther::<SYNC>(farther, metas, hints);
        }
    }

    /// Stage 1b's second pass, for the flows its mask `farther` names: their next buckets
    /// on their way at once, then their guesses.
    #[inline(never)]
    fn stage_hint_farther<const SYNC: bool>(
        &self,
        farther: u32,
        metas: &[FastMeta; BURST],
        hints: &mut [Hint; BURST],
    ) {
        for i in frames_of(farther) {
            rvs_cpu::prefetch(self.sessions.next_bucket_addr(metas[i].hash));
        }
        let sync = if SYNC { self.sync.as_deref() } else { None };
        for i in frames_of(farther) {
            hints[i] = self.sessions.next_hint(metas[i].hash);
            if let Some(a) = self.sessions.slot_addr(hints[i]) {
                rvs_cpu::prefetch(a);
            }
            if let (Some(st), Some(hit)) = (sync, hints[i].guess()) {
                rvs_cpu::prefetch(st.mark_line(hit.slot as usize));
            }
        }
    }

    /// Stage 2a: the burst's leading run of packets the fast path takes, looked up and
    /// rewritten where they lie (no frame moves yet): the whole burst, under steady load.
    /// The run ends at the first packet that needs the full way; returns its length, with
    /// the TX interface of each of its packets in `txs`.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn stage_forward<const VLANS: bool, const SYNC: bool>(
        &mut self,
        frames: &mut [P],
        metas: &[FastMeta; BURST],
        hints: &[Hint; BURST],
        untagged: u32,
        vlan: &[(IfIndex, usize); BURST],
        now: Time,
        out: &mut Output<P>,
        txs: &mut [IfIndex; BURST],
    ) -> usize {
        let mut run = 0;
        for (i, (((pkt, meta), &hint), tx_of)) in
            frames.iter_mut().zip(metas.iter()).zip(hints.iter()).zip(txs.iter_mut()).enumerate()
        {
            // Stage 1b guessed an entry, or `FARTHER` (a full probe), for every frame that
            // may be established: NONE is a SYN, a FIN, a frame the fast path does not
            // take, or a flow filed nowhere.
            if hint == Hint::NONE {
                break;
            }
            let Some(tx) = self.established(pkt, meta, hint, SYNC, now, out) else { break };
            if VLANS && untagged & (1 << i) != 0 {
                // A VLAN's frame, its tag stripped: received (the fast path drops nothing).
                let (iface, len) = vlan[i];
                self.with_vlan_counters(iface, len, |_| {});
            }
            (*tx_of, run) = (tx, i + 1);
        }
        run
    }

    /// Stage 2c: the frames of a burst after its leading run, one by one in arrival order:
    /// the fast path, else the full way. Out of line: the leading run's loop keeps its
    /// registers to itself.
    #[inline(never)]
    fn burst_rest<const VLANS: bool>(
        &mut self,
        port: PortIndex,
        frames: &mut Vec<P>,
        rest: Rest<'_>,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let Rest { from, n, fast, untagged, metas, hints, vlan } = rest;
        for ((i, pkt), meta) in
            frames.drain(..n - from).enumerate().map(|(i, p)| (i + from, p)).zip(metas[from..].iter())
        {
            // The frame that ended the run: `established` refused it (with nothing changed),
            // or its flow is in no entry, or it is not one `established` takes, and nothing
            // has changed the table since: no second try. Later ones: an earlier frame of
            // the burst may have filed their session.
            let retry = i != from;
            if VLANS && untagged & (1 << i) != 0 {
                // A VLAN's frame, its tag stripped: its counters as `handle_tagged` keeps them.
                let (iface, len) = vlan[i];
                if fast & (1 << i) == 0 {
                    self.handle_untagged_of(iface, len, pkt, now, alloc, out);
                } else {
                    let info = meta.info(iface, &pkt);
                    self.with_vlan_counters(iface, len, |p| {
                        p.fast_or_full(pkt, &info, hints[i], retry, now, alloc, out)
                    });
                }
            } else if fast & (1 << i) == 0 {
                self.handle(port, pkt, now, alloc, out);
            } else {
                let info = meta.info(port, &pkt);
                self.fast_or_full(pkt, &info, hints[i], retry, now, alloc, out);
            }
        }
    }

    /// A frame another worker handed over (`handle_handoff`), received on interface
    /// `iface`: forwarded by the fast path if the burst's stages would have taken it there,
    /// else given back for the full way.
    pub(super) fn handoff_fast(
        &mut self,
        pkt: P,
        iface: IfIndex,
        now: Time,
        out: &mut Output<P>,
    ) -> Result<(), P> {
        let mut info = L4Info::EMPTY;
        if !self.classify_fast(iface, &pkt, &mut info) {
            return Err(pkt);
        }
        self.try_fast(pkt, &info, Hint::NONE, now, out)
    }

    /// Stage 2 of one classified frame: the fast path if `fast`, else (or if it does not
    /// take the frame) the full way.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn fast_or_full(
        &mut self,
        pkt: P,
        info: &L4Info,
        hint: Hint,
        fast: bool,
        now: Time,
        alloc: &mut impl FrameAlloc<P>,
        out: &mut Output<P>,
    ) {
        let pkt = if fast {
            let Err(pkt) = self.try_fast(pkt, info, hint, now, out) else { return };
            pkt
        } else {
            pkt
        };
        // What the destination is, which stage 1 left to the full way.
        let mut info = *info;
        info.dest = self.addrs.get(info.key.dst);
        if let Destination::Own(_) = info.dest {
            // ssh, routing protocols: `handle_ipv4` hands them to the kernel.
            return self.handle_l2(info.port, pkt, now, alloc, out);
        }
        if self.header_checksum_ok(&pkt) {
            // The full way creates state or answers: the header is checked first.
            self.dispatch(pkt, info, now, alloc, out);
        } else {
            self.drop_pkt(DropReason::BadIpChecksum, pkt);
        }
    }

    /// `established`, then the TX queue; the frame back when the fast path does not take it.
    #[inline(always)]
    fn try_fast(
        &mut self,
        mut pkt: P,
        info: &L4Info,
        hint: Hint,
        now: Time,
        out: &mut Output<P>,
    ) -> Result<(), P> {
        let meta = FastMeta::of(info);
        if !Self::may_be_established(&meta) {
            return Err(pkt);
        }
        let sync = self.sync.is_some();
        let Some(tx) = self.established(&mut pkt, &meta, hint, sync, now, out) else { return Err(pkt) };
        self.xmit(tx, pkt, out);
        Ok(())
    }

    /// Forwards a packet that `may_be_established` passed (stage 2a's, those stage 1b gave
    /// a hint) if it is a plain packet of an established FULLNAT, NAT or DR session: found
    /// in this worker's table, no SYN-proxy work but the sequence translation, no PROXY
    /// header or TOA to insert, its real server still present or `expire_nodest_conn` off,
    /// and a next hop cached for this topology generation. Counts a client packet towards
    /// session sync if `sync` (whether this worker syncs, known to the caller's loop). Leaves the frame where it lies and returns the TX interface; None
    /// (with nothing changed) sends the packet the full way.
    ///
    /// What the destination address is (VIP, LIP, one of the host's) is not looked up:
    /// the next hop cached for the packet's direction under the current generation says
    /// that the full way forwarded this direction with the addresses as they are now (the
    /// generation moves when they change, `set_snapshot`), and the flow key found says
    /// which direction it is.
    #[inline(always)]
    fn established(
        &mut self,
        pkt: &mut P,
        meta: &FastMeta,
        hint: Hint,
        sync: bool,
        now: Time,
        out: &mut Output<P>,
    ) -> Option<IfIndex> {
        // The headers stage 1 read, 54 bytes (`classify_fast_meta`), as one array: no
        // bounds checks below. The flow's key is read from them, in cache since stage 1.
        let h = pkt.data_mut().first_chunk_mut::<54>()?;
        let key = KeyWords::from_header(h.first_chunk()?);
        let gen = self.neigh.generation();
        let mut found = self.sessions.find_mut(meta.hash, &key, hint, gen)?;
        // A reply needs no owner check here (the full way's `server_packet` makes one): a
        // worker caches a next hop for a session's replies only in `forward`, which the
        // full way reaches after handing another worker's replies over, and a session
        // lives on the worker its replies are steered to (new ones take a local port of
        // the worker's own, synced ones go to the owner, `owner_worker_steered`).
        if !found.ready() {
            // The checks of the session itself, made again only once it has changed
            // (`SessionTable::get_mut`) or the generation has moved (which a change of
            // real servers does under `expire_nodest_conn`, `set_snapshot`).
            if !fast_eligible(found.session(), self.expire_nodest_conn, &self.real_present) {
                return None;
            }
            found.set_ready();
        }
        let (id, dir, delta, hop) = (found.id, found.dir, found.delta(), found.hop());
        let s = found.session();
        let eth: &EthHop = self.neigh.eth_hop(hop)?;
        // The last check, which may count an ACK of an ACK storm: a SYN-proxied session's
        // sequence translation, applied at once (nothing below can decline the packet,
        // and its checksum update and the rewrite's add up in either order).
        let h = if s.flags & FLAG_EXT != 0 {
            let t =
                ext::fast_step(&mut self.ext, &s.client, self.syn_params.dup_ack_threshold, dir, pkt, meta)?;
            ext::translate(&t, dir, pkt, meta.ip_len as usize);
            pkt.data_mut().first_chunk_mut::<54>()?
        } else {
            h
        };
        // Everything checked: from here on the packet is ours.
        s.expires = self.timeouts.deadline(now, s.state);
        let (ip_len, state) = (meta.ip_len as usize, s.state);
        // The real server's counters; its service's are their sum (`stats::ServiceFold`).
        if let Some(r) = self.counters.reals.get(s.real_slot as usize) {
            r.count(dir == Direction::FromClient, ip_len as u64);
        }
        if s.flags & FLAG_DR != 0 {
            // LVS/DR: the client's frame goes to the real server's MAC as it came
            // (`xmit_dr`); the server gets the IP packet, Ethernet padding goes.
            if pkt.data().len() > ETH_LEN + ip_len {
                pkt.set_len(ETH_LEN + ip_len);
            }
            if let Some(h) = pkt.data_mut().first_chunk_mut::<12>() {
                *h = eth.macs;
            }
        } else {
            // To the reverse of the session's other flow (FULLNAT and NAT alike).
            let other = match dir {
                Direction::FromClient => &s.reply,
                Direction::FromServer => &s.client,
            };
            let (macs, ip) = h.split_at_mut(14);
            if let Ok(ip) = <&mut [u8; 40]>::try_from(ip) {
                if key.proto == PROTO_UDP {
                    nat::rewrite_to_reverse::<true>(ip, other, delta);
                } else {
                    nat::rewrite_to_reverse::<false>(ip, other, delta);
                }
            }
            macs[..12].copy_from_slice(&eth.macs);
        }
        let tx = eth.port;
        // An HA master: client packets count towards `sync_period`, as on the full way
        // (`forward`); only a packet that may be due leaves this loop for `sync_due`.
        if sync && dir == Direction::FromClient && self.sync_count(id, state) {
            self.sync_due(id, now, out);
        }
        Some(tx)
    }

    /// What `established` needs checked first (stage 1b, `try_fast`), from the packet alone:
    /// no SYN, FIN or RST, TTL left.
    #[inline(always)]
    fn may_be_established(meta: &FastMeta) -> bool {
        meta.tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST) == 0 && meta.ttl > 1
    }
}

/// Whether the fast path may take the packets of session `s` (`established`, which caches
/// the answer until the session changes): it is in a steady state (a pure ACK of a
/// SYN_RECV session from the client moves it to ESTABLISHED, and the full way keeps the
/// gauges); no TOA is still to insert and it is no TUN session (an outer header,
/// `xmit_tun`); its real server is still present or `expire_nodest_conn` is off.
/// FLAG_TOA alone is no reason: once the option is in, TOA only clamps the server's
/// SYN/ACK, and no SYN comes this way. A DR session's replies are dropped by the full way,
/// which caches no next hop for them. SYN-proxied sessions: `ext::fast_step`.
fn fast_eligible(s: &Session, expire_nodest_conn: bool, real_present: &[bool]) -> bool {
    s.state.is_steady()
        && s.flags & (FLAG_TOA_PENDING | FLAG_TUN) == 0
        && (!expire_nodest_conn || real_present.get(s.real_slot as usize).copied().unwrap_or(true))
}
