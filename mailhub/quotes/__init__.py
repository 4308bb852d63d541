"""What the author of a reply actually wrote (`new_text`), and what commands are read from
(`written_text`): the body without quoted history, attributions, forwarded or original-message
blocks, signatures, sign-offs and phone footers, in the languages of words.py.

`strip.py` holds the line-by-line reading, `words.py` the words each client writes in each language.
"""
from mailhub.quotes.strip import new_text, written_text

__all__ = ["new_text", "written_text"]
