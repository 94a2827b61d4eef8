//! The text printer of the IR (to be written).
