"""MkDocs hook: the configuration reference is generated at build time from conf/ and its
comments, by the same code that `gan train --help` uses, so that the two cannot disagree."""

from gan_cli.cli import conf_dir
from gan_cli.confhelp import reference

MARKER = "<!-- config-reference -->"


def on_page_markdown(markdown, page, config, files):
    return markdown.replace(MARKER, reference(conf_dir())) if MARKER in markdown else markdown
