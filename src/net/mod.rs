//! Networking on the runtime's reactor: UDP sockets ([`UdpSocket`]) and Unix
//! domain sockets ([`UnixListener`], [`UnixStream`], [`UnixDatagram`]).
//!
//! Every socket is registered with the runtime running on the loop thread
//! (creating one outside a runtime is an error) and every operation goes
//! through the reactor's one try-then-wait loop: an awaited operation is a
//! cancellation checkpoint, and one that is cancelled while waiting has
//! sent or received nothing. Methods take `&self`, so several tasks may
//! wait on one socket (shared by `Rc`).

mod udp;
mod unix;

pub use udp::UdpSocket;
pub use unix::{UnixDatagram, UnixListener, UnixStream};
