"""The seeded simulated market: regimes, jumps, mark, index and funding, as core events."""
