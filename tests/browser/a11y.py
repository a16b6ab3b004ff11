"""Accessibility probes run in the page: unlabelled controls and text contrast (WCAG 2.x)."""

from __future__ import annotations

import re
from typing import Any

# Every visible form control without an accessible name (label, aria-label(ledby), or
# for buttons their text). Returns short descriptions of the offenders.
UNLABELLED_JS = """
() => {
  const out = [];
  const visible = (e) => !!(e.offsetWidth || e.offsetHeight || e.getClientRects().length);
  for (const e of document.querySelectorAll('input, select, textarea, button')) {
    if (e.type === 'hidden' || !visible(e)) continue;
    const labelled = (e.labels && [...e.labels].some((l) => l.textContent.trim()))
      || (e.getAttribute('aria-label') || '').trim()
      || (e.getAttribute('aria-labelledby') || '').split(/\\s+/).some(
           (id) => id && document.getElementById(id)
             && document.getElementById(id).textContent.trim());
    const named = e.tagName === 'BUTTON' && e.textContent.trim();
    if (!labelled && !named) out.push(e.outerHTML.slice(0, 120));
  }
  return out;
}
"""

# (text, colour, effective background colour, font size px, bold) for every visible element
# that directly holds text, outside SVG. The background is the first opaque one going up.
TEXT_COLOURS_JS = """
() => {
  const rows = [];
  const opaque = (c) => c && c !== 'transparent' && !/rgba\\([^)]*,\\s*0\\)$/.test(c);
  const background = (e) => {
    for (let n = e; n; n = n.parentElement) {
      const c = getComputedStyle(n).backgroundColor;
      if (opaque(c)) return c;
    }
    return 'rgb(255, 255, 255)';
  };
  for (const e of document.body.querySelectorAll('*')) {
    if (e.closest('svg') || e.closest('[hidden]')) continue;
    const own = [...e.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own.length) continue;
    const r = e.getBoundingClientRect();
    if (r.width < 2 || r.height < 2 || r.right < 0 || r.left < -100) continue;
    const s = getComputedStyle(e);
    if (s.visibility === 'hidden' || s.display === 'none' || +s.opacity === 0) continue;
    rows.push([own[0].textContent.trim().slice(0, 30), s.color, background(e),
               parseFloat(s.fontSize), +s.fontWeight >= 700, e.tagName + '.' + e.className]);
  }
  return rows;
}
"""

_RGB = re.compile(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)")


def parse_colour(text: str) -> tuple[float, float, float, float]:
    match = _RGB.match(text)
    if match is None:
        raise ValueError(f"not an rgb() colour: {text!r}")
    r, g, b = (float(match.group(i)) for i in (1, 2, 3))
    return r, g, b, float(match.group(4) or 1)


def luminance(rgb: tuple[float, float, float]) -> float:
    """WCAG relative luminance of an sRGB colour (0-255 channels)."""

    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG contrast ratio; a translucent foreground is blended over the background."""
    fr, fg, fb, fa = parse_colour(foreground)
    br, bg, bb, _ = parse_colour(background)
    blended = (fr * fa + br * (1 - fa), fg * fa + bg * (1 - fa), fb * fa + bb * (1 - fa))
    hi, lo = sorted((luminance(blended), luminance((br, bg, bb))), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def low_contrast(page: Any, minimum: float = 4.5) -> list[tuple[str, str, str, float, str]]:
    """Text whose contrast with its background is below ``minimum`` (AA for body text)."""
    rows = page.evaluate(TEXT_COLOURS_JS)
    assert rows, "no text found on the page"
    bad = []
    for text, colour, back, _size, _bold, where in rows:
        ratio = contrast(colour, back)
        if ratio < minimum:
            bad.append((text, colour, back, round(ratio, 2), where))
    return bad


def text_pairs(page: Any) -> int:
    """How many text/background pairs the contrast probe measured."""
    return len(page.evaluate(TEXT_COLOURS_JS))
