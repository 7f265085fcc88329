//! Building AWS SDK clients (to be written).
