//! Endpoints, argument binding, dispatch and the async job table. Knows nothing of sockets.
