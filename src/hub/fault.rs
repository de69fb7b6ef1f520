//! A private test seam: the unit tests make a chosen library thread panic, to prove that cleanup
//! runs from drop guards whatever happens. Outside `cfg(test)` every check is a no-op the compiler
//! removes.

/// A place in a library thread where a test may inject a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FaultPoint {
    /// A connection's reader, after the peer is registered and announced.
    Reader,
    /// A connection's writer, before its first write.
    Writer,
    /// A server's acceptor, on the next accepted connection.
    Acceptor,
}

/// Which fault points panic, for one [`Remote`](crate::Remote).
#[cfg(test)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Faults(u8);

#[cfg(test)]
impl Faults {
    pub(crate) fn panic_at(point: FaultPoint) -> Faults {
        Faults(1 << point as u8)
    }
}

/// Panics here if the test asked for it; does nothing otherwise.
#[cfg_attr(not(test), allow(unused_variables))]
#[inline(always)]
pub(crate) fn check(options: &crate::hub::HostOptions, point: FaultPoint) {
    #[cfg(test)]
    if options.faults.0 & (1 << point as u8) != 0 {
        panic!("injected fault: {point:?}");
    }
}
