"""Render a terminal capture into a PNG for the docs: the tool that remakes the terminal pictures in this folder.

The capture is text with ANSI colour codes, as ``tmux capture-pane -e -p`` prints it. Foreground and background
colours (the 16 standard ones, the 256-colour palette and 24-bit), bold and reverse video are drawn; other codes are
skipped. Characters are laid out on a fixed grid of cells in DejaVu Sans Mono (or ``--font``); wide (CJK) characters
take two cells and need a font that has them.

The pictures in this folder were made so (tmux 3.x, in a folder where ``recipes`` is the repository's)::

    tmux -u new-session -d -s zoo -x 118 -y 10            # progress.png: a run on a terminal
    tmux send-keys -t zoo 'zoo run recipes/shakespeare_lstm.yaml --set trainer.epochs=3 --set model.hidden_size=128'
    tmux send-keys -t zoo ' --set trainer.eval_every=80' Enter
    tmux capture-pane -t zoo -e -p > progress.txt          # while epoch 3 trains
    python docs/images/render_terminal.py progress.txt docs/images/progress.png --title "zoo run"
    cp runs/shakespeare_lstm/perplexity.png docs/images/perplexity.png
    tmux -u new-session -d -s models -x 140 -y 24          # models.png
    tmux send-keys -t models 'zoo models' Enter
    tmux capture-pane -t models -e -p > models.txt
    python docs/images/render_terminal.py models.txt docs/images/models.png --title "zoo models"
"""

from __future__ import annotations

import argparse
import re
import sys
import unicodedata
from dataclasses import dataclass, replace
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/TTF/DejaVuSansMono.ttf",
    "/Library/Fonts/DejaVuSansMono.ttf",
    "C:/Windows/Fonts/consola.ttf",
)
BACKGROUND, FOREGROUND, CHROME = (30, 30, 30), (212, 212, 212), (60, 60, 60)
# the 16 standard colours (VS Code's dark terminal theme): black, red, green, yellow, blue, magenta, cyan, white,
# then bright
BASIC = [
    (0, 0, 0),
    (205, 49, 49),
    (13, 188, 121),
    (229, 229, 16),
    (36, 114, 200),
    (188, 63, 188),
    (17, 168, 205),
    (229, 229, 229),
    (102, 102, 102),
    (241, 76, 76),
    (35, 209, 139),
    (245, 245, 67),
    (59, 142, 234),
    (214, 112, 214),
    (41, 184, 219),
    (255, 255, 255),
]
SGR = re.compile(r"\x1b\[([0-9;]*)m")
OTHER = re.compile(r"\x1b\[[0-9;?]*[A-Za-ln-z]|\x1b[()][0-9A-Za-z]")  # cursor and charset codes: not drawn


@dataclass(frozen=True)
class Style:
    """How a cell is drawn: colours (``None``: the terminal's own), bold, reverse video."""

    fg: tuple[int, int, int] | None = None
    bg: tuple[int, int, int] | None = None
    bold: bool = False
    reverse: bool = False


def palette(n: int) -> tuple[int, int, int]:
    """Colour ``n`` of the xterm 256-colour palette."""
    if n < 16:
        return BASIC[n]
    if n < 232:
        r, g, b = (n - 16) // 36, (n - 16) // 6 % 6, (n - 16) % 6
        return tuple(0 if c == 0 else 55 + 40 * c for c in (r, g, b))  # type: ignore[return-value]
    return (8 + 10 * (n - 232),) * 3  # type: ignore[return-value]


def apply(style: Style, params: str) -> Style:
    """``style`` after the SGR code with parameters ``params`` (e.g. ``"1;38;5;10"``)."""
    codes = [int(p) if p else 0 for p in params.split(";")]
    i = 0
    while i < len(codes):
        c = codes[i]
        if c == 0:
            style = Style()
        elif c in (1, 22):
            style = replace(style, bold=c == 1)
        elif c in (7, 27):
            style = replace(style, reverse=c == 7)
        elif 30 <= c <= 37 or 90 <= c <= 97:
            style = replace(style, fg=BASIC[c - 30 if c < 90 else c - 82])
        elif 40 <= c <= 47 or 100 <= c <= 107:
            style = replace(style, bg=BASIC[c - 40 if c < 100 else c - 92])
        elif c in (39, 49):
            style = replace(style, **{"fg" if c == 39 else "bg": None})
        elif c in (38, 48) and i + 1 < len(codes):
            key = "fg" if c == 38 else "bg"
            if codes[i + 1] == 5 and i + 2 < len(codes):
                style, i = replace(style, **{key: palette(codes[i + 2])}), i + 2
            elif codes[i + 1] == 2 and i + 4 < len(codes):
                style, i = replace(style, **{key: tuple(codes[i + 2 : i + 5])}), i + 4
        i += 1
    return style


def cells(text: str) -> list[list[tuple[str, Style]]]:
    """The capture as rows of (character, style), trailing empty rows dropped; a wide character is followed by an
    empty cell."""
    rows, style = [], Style()
    for line in text.expandtabs(8).split("\n"):
        row: list[tuple[str, Style]] = []
        line = OTHER.sub("", line.rstrip("\r"))
        at = 0
        for m in [*SGR.finditer(line), None]:
            for ch in line[at : m.start() if m else len(line)]:
                if unicodedata.combining(ch) or ch in "\x1b\r":
                    continue
                row.append((ch, style))
                if unicodedata.east_asian_width(ch) in "WF":
                    row.append(("", style))
            if m:
                style, at = apply(style, m[1]), m.end()
        rows.append(row)
    while rows and not "".join(ch for ch, _ in rows[-1]).strip():
        rows.pop()
    return rows


def render(
    text: str, title: str | None = None, font_path: str | None = None, size: int = 15, columns: int | None = None
) -> Image.Image:
    """The capture ``text`` drawn as a dark terminal window (with ``title`` in its title bar), ``columns`` cells wide
    (default: its longest row)."""
    font = ImageFont.truetype(font_path or next((f for f in FONTS if Path(f).is_file()), FONTS[0]), size)
    bold = _bold(font_path, font)
    rows = cells(text)
    cw, ascent, descent = font.getlength("M"), *font.getmetrics()
    lh, pad, bar = round((ascent + descent) * 1.15), 14, (30 if title is not None else 0)
    width = columns or max((len(r) for r in rows), default=1)
    img = Image.new("RGB", (round(2 * pad + width * cw), bar + 2 * pad + max(len(rows), 1) * lh), BACKGROUND)
    draw = ImageDraw.Draw(img)
    if title is not None:
        draw.rectangle((0, 0, img.width, bar), fill=CHROME)
        for k, colour in enumerate(((255, 95, 86), (255, 189, 46), (39, 201, 63))):
            draw.ellipse((12 + 20 * k, bar // 2 - 6, 24 + 20 * k, bar // 2 + 6), fill=colour)
        draw.text((img.width / 2, bar / 2), title, font=font, fill=FOREGROUND, anchor="mm")
    for y, row in enumerate(rows):
        top = bar + pad + y * lh
        for x, (ch, st) in enumerate(row[:width]):
            fg, bg = st.fg or FOREGROUND, st.bg
            if st.reverse:
                fg, bg = bg or BACKGROUND, fg
            left = pad + x * cw
            if bg is not None:
                draw.rectangle(
                    (left, top, left + cw * (2 if unicodedata.east_asian_width(ch or " ") in "WF" else 1), top + lh),
                    fill=bg,
                )
            if ch.strip():
                draw.text((left, top + (lh - ascent - descent) / 2), ch, font=bold if st.bold else font, fill=fg)
    return img


def _bold(font_path: str | None, font: ImageFont.FreeTypeFont) -> ImageFont.FreeTypeFont:
    """The bold face beside ``font`` (DejaVuSansMono-Bold.ttf), or ``font`` itself where there is none."""
    path = Path(font.path)
    bold = path.with_name(path.stem + "-Bold" + path.suffix)
    return ImageFont.truetype(str(bold), font.size) if font_path is None and bold.is_file() else font


def main(argv: list[str] | None = None) -> int:
    """Command line: ``render_terminal.py CAPTURE OUT.png [--title T] [--font F] [--size N] [--columns N]``."""
    ap = argparse.ArgumentParser(
        description="Render a terminal capture (tmux capture-pane -e -p) into a PNG.",
        epilog="example: python docs/images/render_terminal.py progress.txt docs/images/progress.png --title 'zoo run'",
    )
    ap.add_argument("capture", help="text with ANSI colour codes; - for stdin")
    ap.add_argument("out", help="the PNG to write")
    ap.add_argument("--title", default=None, help="draw a window title bar with this title")
    ap.add_argument("--font", default=None, help="a monospace TrueType font (default: DejaVu Sans Mono)")
    ap.add_argument("--size", type=int, default=15, help="font size in pixels (default 15)")
    ap.add_argument("--columns", type=int, default=None, help="window width in cells (default: the longest line)")
    args = ap.parse_args(argv)
    text = sys.stdin.read() if args.capture == "-" else Path(args.capture).read_text(encoding="utf-8")
    try:
        image = render(text, args.title, args.font, args.size, args.columns)
    except OSError as exc:
        print(
            f"render_terminal: cannot open the font {args.font or FONTS[0]} ({exc}); "
            "pass --font PATH to a monospace .ttf",
            file=sys.stderr,
        )
        return 2
    image.save(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
