//! The on-stick format: writer, reader, verification and split volumes.
