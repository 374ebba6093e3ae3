"""Bar charts as standalone SVG, written by hand (no third-party modules): grouped
bars (one colour per series, a legend), grouped stacked bars (one colour per
segment), and a page stacking several charts. Pure functions of their
arguments; the result is a str that a browser opens as an .svg file.

Every bar is a <rect class="bar"> carrying data-group, data-series (and
data-segment for stacked bars) and data-value, with a <title> a browser shows
on hover; a missing value is a <text class="missing"> at the baseline (e.g.
"failed"), so that nothing is silently left out.
"""

import math
from xml.sax.saxutils import escape, quoteattr

# Colour-blind-friendly categorical colours (Okabe-Ito, then a few more).
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442",
           "#000000", "#999999", "#882255", "#44AA99", "#117733")

FONT = "font-family=\"sans-serif\""


def _fmt(v):
    """A number as short text for labels and attributes."""
    if v == 0:
        return "0"
    if abs(v) >= 1 and abs(v - round(v)) < 1e-9:
        return "%d" % round(v)
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 0.01:
        return ("%.3f" % v).rstrip("0").rstrip(".")
    return "%.2g" % v


def nice_ticks(lo, hi, count=5):
    """Round tick values covering [lo, hi] (lo <= 0 <= hi usually), about `count`."""
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks = []
    t = first
    while t < hi + step * 0.999:
        ticks.append(round(t, 12))
        t += step
    return ticks


def log_ticks(lo, hi):
    """Tick values for a log axis spanning [lo, hi] (both > 0): 1-2-5 per decade,
    or only powers of ten when that would be too many."""
    e0, e1 = math.floor(math.log10(lo)), math.ceil(math.log10(hi))
    ticks = [m * 10.0 ** e for e in range(e0, e1 + 1) for m in (1, 2, 5)]
    ticks = [t for t in ticks if lo * 0.999 <= t <= hi * 1.001]
    if len(ticks) > 10:
        ticks = [10.0 ** e for e in range(e0, e1 + 1) if lo * 0.999 <= 10.0 ** e <= hi * 1.001]
    return ticks


def _steps_125(v):
    e = math.floor(math.log10(v))
    return [m * 10.0 ** k for k in (e - 1, e, e + 1) for m in (1, 2, 5)]


def _step_at_or_below(v):
    return max(t for t in _steps_125(v) if t <= v * 1.0001)


def _step_at_or_above(v):
    return min(t for t in _steps_125(v) if t >= v * 0.9999)


class _Axis:
    """Maps values to y pixels over [top, bottom] of the plot area."""

    def __init__(self, values, top, bottom, log, baseline):
        self.top, self.bottom, self.log = top, bottom, log
        vals = [v for v in values if v is not None and (v > 0 or not log)]
        if log:
            pos = vals + [baseline]
            self.lo, self.hi = _step_at_or_below(min(pos)), _step_at_or_above(max(pos))
            if self.hi <= self.lo:
                self.hi = self.lo * 10
            self.ticks = log_ticks(self.lo, self.hi)
            self.base = baseline
        else:
            hi = max(vals) if vals else 1.0
            lo = min(vals + [0.0]) if vals else 0.0
            self.ticks = nice_ticks(lo, hi if hi > lo else lo + 1.0)
            self.lo, self.hi = self.ticks[0], self.ticks[-1]
            self.base = 0.0 if self.lo <= 0 <= self.hi else self.lo

    def y(self, v):
        if self.log:
            v = max(v, self.lo)
            f = (math.log(v) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        else:
            f = (v - self.lo) / (self.hi - self.lo)
        return self.bottom - f * (self.bottom - self.top)


class Chart:
    """One chart: its size and its SVG elements (without the <svg> wrapper)."""

    def __init__(self, width, height, elements):
        self.width, self.height, self.elements = width, height, elements

    def svg(self):
        return page([self])


def grid(charts, columns=1, gap=24):
    """The charts as one chart: a grid of `columns` columns, filled row by row."""
    columns = max(1, min(columns, len(charts)))
    col_w = max(c.width for c in charts)
    rows = [charts[i:i + columns] for i in range(0, len(charts), columns)]
    row_h = [max(c.height for c in r) for r in rows]
    el = []
    y = 0
    for r, h in zip(rows, row_h):
        for i, c in enumerate(r):
            el.append('<g transform="translate(%d,%d)">' % (i * (col_w + gap), y))
            el.extend(c.elements)
            el.append("</g>")
        y += h + gap
    return Chart(col_w * columns + gap * (columns - 1), sum(row_h) + gap * (len(rows) - 1), el)


def page(charts, columns=1):
    """One SVG document (a str) with the charts in a grid of `columns` columns."""
    g = grid(charts, columns)
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">'
           % (g.width, g.height, g.width, g.height),
           '<rect x="0" y="0" width="%d" height="%d" fill="#ffffff"/>' % (g.width, g.height)]
    out.extend(g.elements)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _text_width(s, size=12):
    """A generous estimate of the width of s in pixels at that font size."""
    return int(len(s) * size * 0.62) + 1


def _text(x, y, s, size=12, anchor="middle", extra=""):
    return '<text x="%.1f" y="%.1f" font-size="%d" text-anchor="%s" %s%s>%s</text>' % (
        x, y, size, anchor, FONT, extra, escape(s))


def _frame(el, title, y_label, axis, left, right, top, bottom, log):
    el.append(_text((left + right) / 2 + 4, 22, title, size=15, extra=' font-weight="bold"'))
    el.append(_text(16, (top + bottom) / 2, y_label, size=12,
                    extra=' transform="rotate(-90 16 %.1f)"' % ((top + bottom) / 2)))
    for t in axis.ticks:
        y = axis.y(t)
        el.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#dddddd"/>'
                  % (left, y, right, y))
        el.append(_text(left - 6, y + 4, _fmt(t), size=11, anchor="end"))
    el.append('<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333333"/>'
              % (left, top, left, bottom))
    by = axis.y(axis.base)
    el.append('<line class="baseline" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#333333"/>'
              % (left, by, right, by))


def _legend(el, x, y, names, colours):
    for i, (name, colour) in enumerate(zip(names, colours)):
        yy = y + i * 18
        el.append('<rect class="legend" x="%d" y="%d" width="12" height="12" fill="%s"/>'
                  % (x, yy, colour))
        el.append(_text(x + 18, yy + 10, name, size=12, anchor="start"))


def _bar(el, x, w, y0, y1, colour, attrs, tip):
    top, h = min(y0, y1), abs(y1 - y0)
    el.append('<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"%s>'
              '<title>%s</title></rect>' % (x, top, w, max(h, 0.5), colour, attrs, escape(tip)))


def _attrs(**kv):
    return "".join(" data-%s=%s" % (k, quoteattr(str(v))) for k, v in kv.items())


def grouped_bars(title, groups, series, values, y_label, notes=None, log=False, baseline=1.0,
                 reference=None, colours=None, bar_width=14, plot_height=260):
    """Bars of values[g][s] (None: missing, shown as notes[g][s] or "n/a"), one
    group per name in `groups`, one colour per name in `series`. log: a log axis
    whose bars grow from `baseline`. reference: a dashed line at that value."""
    colours = colours or [PALETTE[i % len(PALETTE)] for i in range(len(series))]
    left, top = 64, 40
    group_w = max(bar_width * len(series) + 18, _text_width(max(groups, key=len)) + 12)
    right = max(left + group_w * len(groups) + 10, _text_width(title, 15) + 20)
    bottom = top + plot_height
    legend_w = 24 + _text_width(max(series, key=len))
    width, height = right + 20 + legend_w, bottom + 44
    flat = [values[g][s] for g in range(len(groups)) for s in range(len(series))]
    axis = _Axis(flat + ([reference] if reference else []), top, bottom, log, baseline)
    el = []
    _frame(el, title, y_label, axis, left, right, top, bottom, log)
    by = axis.y(axis.base)
    for g, gname in enumerate(groups):
        gx = left + 9 + g * group_w
        for s, sname in enumerate(series):
            x = gx + s * bar_width
            v = values[g][s]
            if v is None or (log and v <= 0):
                note = (notes[g][s] if notes and notes[g][s] else "n/a")
                el.append('<text class="missing" x="%.1f" y="%.1f" font-size="9" %s fill="#cc0000" '
                          'transform="rotate(-90 %.1f %.1f)"%s>%s</text>'
                          % (x + bar_width / 2 + 3, by - 3, FONT, x + bar_width / 2 + 3, by - 3,
                             _attrs(group=gname, series=sname), escape(note)))
                continue
            _bar(el, x + 1, bar_width - 2, by, axis.y(v), colours[s],
                 _attrs(group=gname, series=sname, value=_fmt(v)),
                 "%s, %s: %s" % (gname, sname, _fmt(v)))
        el.append(_text(gx + group_w / 2 - 9, bottom + 18, gname, size=12))
    if reference is not None:
        ry = axis.y(reference)
        el.append('<line class="reference" x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#cc0000" '
                  'stroke-dasharray="5,4"/>' % (left, ry, right, ry))
    _legend(el, right + 20, top, series, colours)
    return Chart(width, height, el)


def stacked_bars(title, groups, bars, segments, values, y_label, notes=None, colours=None,
                 bar_width=16, plot_height=260, group_labels=True):
    """values[g][b] is a list of segment values (None: missing, shown as
    notes[g][b]); one group per name in `groups` (written under it unless
    group_labels is false), in it one bar per name in `bars` (labelled under
    the bar), one colour per name in `segments`."""
    colours = colours or [PALETTE[i % len(PALETTE)] for i in range(len(segments))]
    left, top = 64, 40
    group_w = bar_width * len(bars) + 22
    if group_labels:
        group_w = max(group_w, _text_width(max(groups, key=len)) + 12)
    right = max(left + group_w * len(groups) + 10, _text_width(title, 15) + 20)
    bottom = top + plot_height
    label_h = _text_width(max(bars, key=len), 10) + 8
    legend_w = 24 + _text_width(max(segments, key=len))
    group_h = 30 if group_labels else 4
    width, height = right + 20 + legend_w, bottom + label_h + group_h
    totals = [sum(values[g][b]) for g in range(len(groups)) for b in range(len(bars))
              if values[g][b] is not None]
    axis = _Axis(totals + [0.0], top, bottom, False, 0.0)
    el = []
    _frame(el, title, y_label, axis, left, right, top, bottom, False)
    for g, gname in enumerate(groups):
        gx = left + 11 + g * group_w
        for b, bname in enumerate(bars):
            x = gx + b * bar_width
            cx = x + bar_width / 2 + 3
            el.append('<text x="%.1f" y="%d" font-size="10" text-anchor="end" %s '
                      'transform="rotate(-90 %.1f %d)">%s</text>'
                      % (cx, bottom + 6, FONT, cx, bottom + 6, escape(bname)))
            parts = values[g][b]
            if parts is None:
                note = (notes[g][b] if notes and notes[g][b] else "n/a")
                el.append('<text class="missing" x="%.1f" y="%d" font-size="9" %s fill="#cc0000" '
                          'transform="rotate(-90 %.1f %d)"%s>%s</text>'
                          % (cx, bottom - 3, FONT, cx, bottom - 3,
                             _attrs(group=gname, series=bname), escape(note)))
                continue
            acc = 0.0
            for s, sname in enumerate(segments):
                v = parts[s]
                if v <= 0:
                    continue
                _bar(el, x + 1, bar_width - 2, axis.y(acc), axis.y(acc + v), colours[s],
                     _attrs(group=gname, series=bname, segment=sname, value=_fmt(v)),
                     "%s, %s, %s: %s" % (gname, bname, sname, _fmt(v)))
                acc += v
        if group_labels:
            el.append(_text(gx + group_w / 2 - 11, bottom + label_h + 22, gname, size=12))
    _legend(el, right + 20, top, segments, colours)
    return Chart(width, height, el)
