//! The demo's table: the KB night under each remedy, over many seeds.
