//! Weight and activation formats (to be written).
