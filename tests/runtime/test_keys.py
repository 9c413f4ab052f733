"""Key files that cannot give a key and a secret say what is wrong with the file, and never echo
what is in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from rulebot.runtime.keys import CredentialsError, load_credentials

SECRET = "s3cr3t-value-never-printed"


def key_file(tmp_path: Path, body: bytes) -> Path:
    path = tmp_path / "keys"
    path.write_bytes(body)
    path.chmod(0o600)
    return path


@pytest.mark.parametrize(
    ("body", "says"),
    [
        # "needs an API key and secret: set BINANCE_API_KEY..." sent people to the environment
        (b"BINANCE_API_KEY=abc\nBINANCE_API_SECRET " + SECRET.encode() + b"\n", "no BINANCE_API_SECRET="),
        (b"BINANCE_API_SECRET=" + SECRET.encode() + b"\n", "no BINANCE_API_KEY="),
        # was "'utf-8' codec can't decode byte 0xff in position 51", naming no file
        (b"BINANCE_API_KEY=abc\nBINANCE_API_SECRET=" + SECRET.encode() + b"\xff\n", "not UTF-8 text"),
        (b"BINANCE_API_KEY=ab c\nBINANCE_API_SECRET=" + SECRET.encode() + b"\n", "the API key has a space"),
        # the last line won, and Binance's -1022 "signature invalid" pointed away from the file
        (
            b"BINANCE_API_KEY=abc\nBINANCE_API_SECRET=old\nBINANCE_API_SECRET=" + SECRET.encode(),
            "BINANCE_API_SECRET= twice",
        ),
        (
            b"BINANCE_API_KEY=abc\nSECRET=old\nBINANCE_API_SECRET=" + SECRET.encode(),
            "both BINANCE_API_SECRET= and SECRET=",
        ),
    ],
)
def test_a_key_file_that_cannot_be_used_names_itself_and_what_is_missing(
    tmp_path: Path, body: bytes, says: str
) -> None:
    path = key_file(tmp_path, body)
    with pytest.raises(CredentialsError) as info:
        load_credentials(path)
    text = str(info.value)
    assert str(path) in text and says in text, text
    assert SECRET not in text


def test_the_two_line_form_and_comments_still_work(tmp_path: Path) -> None:
    path = key_file(tmp_path, b"# my testnet key\nabc\n" + SECRET.encode() + b"\n")
    creds = load_credentials(path)
    assert (creds.api_key, creds.api_secret) == ("abc", SECRET)


@pytest.mark.parametrize("quote", ['"', "'"])
def test_a_dotenv_style_file_gives_the_values_without_their_quotes_or_export(tmp_path: Path, quote: str) -> None:
    """Taken with its quotes, the secret signed every request wrongly: Binance said -1022."""
    body = f"export BINANCE_API_KEY={quote}abc{quote}\nBINANCE_API_SECRET = {quote}{SECRET}{quote}\n"
    creds = load_credentials(key_file(tmp_path, body.encode()))
    assert (creds.api_key, creds.api_secret) == ("abc", SECRET)
    lone = load_credentials(key_file(tmp_path, f"BINANCE_API_KEY=abc\nBINANCE_API_SECRET={quote}{SECRET}\n".encode()))
    assert lone.api_secret == quote + SECRET  # one quote is not quoting: left for Binance to refuse
