//! End-to-end VM test and boot benchmark.
