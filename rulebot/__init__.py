"""rulebot: declarative, rules-based trading bots for Binance Futures."""

__version__ = "0.1.0"
