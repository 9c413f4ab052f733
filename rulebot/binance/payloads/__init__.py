"""Parsers of Binance payloads (REST answers and stream messages) into core values."""
