"""Plots shared by the chapters: frames with boxes, spectrograms, heatmaps, timelines,
similarity matrices and t-SNE scatters. Every function draws into a matplotlib ``Axes``
(a new figure when none is given) and returns it.
"""
from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.patches import Patch, Rectangle

from .audio import SAMPLE_RATE, log_mel
from .scorecard_view import missing

#: sounding vs silent objects: colour-blind-safe colours (Okabe–Ito blue / vermillion) that also
#: differ in line style (solid / dashed), so the distinction survives grey-scale printing
SOUNDING, SILENT = "#0072B2", "#D55E00"
LINESTYLE = {True: "-", False: "--"}
#: sequential, colour-blind-safe map for non-negative heatmaps (no ``jet``)
HEAT_CMAP = "inferno"
MIN_FONT = 9


def book_style(dpi: int = 150) -> None:
    """The book's figure style: ≥ 150 dpi, no text under 9 pt, a perceptually uniform colormap."""
    plt.rcParams.update({"figure.dpi": dpi, "savefig.dpi": dpi, "font.size": 10, "axes.titlesize": 10,
                         "axes.labelsize": 10, "xtick.labelsize": MIN_FONT, "ytick.labelsize": MIN_FONT,
                         "legend.fontsize": MIN_FONT, "figure.titlesize": 11, "image.cmap": "viridis"})


def _ax(ax, figsize=(3, 3)):
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def show_frame(frame, objects=(), classes=None, ax=None, title=None, label_boxes=True):
    """An image with its objects' boxes: solid blue if sounding, dashed vermillion if silent."""
    ax = _ax(ax)
    ax.imshow(frame)
    for o in objects:
        x0, y0, x1, y1 = o["box"]
        sounding = bool(o.get("sounding", True))
        color = SOUNDING if sounding else SILENT
        ax.add_patch(Rectangle((x0 - .5, y0 - .5), x1 - x0, y1 - y0, fill=False, lw=1.5, ec=color,
                               ls=LINESTYLE[sounding]))
        if label_boxes and classes is not None:
            ax.text(x0, y0 - 1, classes[o["class"]], color="white", fontsize=MIN_FONT, va="bottom",
                    bbox=dict(fc=color, ec="none", pad=0.5, alpha=.8))
    ax.set_axis_off()
    if title:
        ax.set_title(title, fontsize=MIN_FONT)
    return ax


def frame_grid(frames, objects=None, classes=None, ncols=10, titles=None, size=1.2):
    """A grid of frames (with boxes when ``objects`` is given); returns the figure."""
    n = len(frames)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows + .2), squeeze=False)
    for k, ax in enumerate(axes.flat):
        if k < n:
            show_frame(frames[k], objects[k] if objects is not None else (), classes, ax,
                       titles[k] if titles is not None else None, label_boxes=False)
        else:
            ax.set_axis_off()
    fig.tight_layout(pad=0.2)
    return fig


def spectrogram(wave, ax=None, sample_rate=SAMPLE_RATE, title=None):
    """Log-mel spectrogram (64 bands, dB) of a waveform with a time axis in seconds."""
    ax = _ax(ax, (4, 2))
    spec = log_mel(wave, sample_rate).numpy()
    ax.imshow(spec, origin="lower", aspect="auto", cmap="magma",
              extent=(0, len(wave) / sample_rate, 0, spec.shape[0]))
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mel band")
    if title:
        ax.set_title(title, fontsize=MIN_FONT)
    return ax


def heatmap_overlay(frame, heat, ax=None, alpha=0.5, cmap=HEAT_CMAP, title=None, objects=(), classes=None):
    """A heatmap (any resolution, upsampled to the frame) over an image, with optional boxes."""
    ax = show_frame(frame, objects, classes, ax, title, label_boxes=False)
    h, w = frame.shape[:2]
    ax.imshow(np.asarray(heat, dtype=float), cmap=cmap, alpha=alpha, extent=(-.5, w - .5, h - .5, -.5),
              interpolation="bilinear")
    return ax


def segment_timeline(tracks: dict, ax=None, title=None):
    """Rows of per-segment booleans or labels (audible / visible / event / predictions).

    ``tracks`` maps a row name to a length-T array; booleans are drawn as filled cells,
    integer labels as their value written in the cell.
    """
    names = list(tracks)
    T = len(next(iter(tracks.values())))
    ax = _ax(ax, (0.45 * T + 1.2, 0.35 * len(names) + 0.5))
    palette = sns.color_palette("tab10")
    for r, name in enumerate(names):
        vals = np.asarray(tracks[name])
        for t, v in enumerate(vals):
            if vals.dtype == bool:
                if v:
                    ax.add_patch(Rectangle((t, r + .1), 1, .8, color=palette[r % 10]))
            else:
                ax.text(t + .5, r + .5, str(v), ha="center", va="center", fontsize=MIN_FONT)
                ax.add_patch(Rectangle((t, r + .1), 1, .8, fill=False, ec="0.7"))
    ax.set_xlim(0, T)
    ax.set_ylim(len(names), 0)
    ax.set_yticks(np.arange(len(names)) + .5, names)
    ax.set_xticks(np.arange(T) + .5, [str(t) for t in range(T)])
    ax.set_xlabel("segment (s)")
    if title:
        ax.set_title(title, fontsize=MIN_FONT)
    return ax


def similarity_matrix(matrix, ax=None, title=None, xlabel="", ylabel="", annotate=False, cmap="viridis"):
    """A matrix as a heatmap (e.g. PSP's γ_va or a confusion matrix)."""
    ax = _ax(ax, (3.2, 2.8))
    sns.heatmap(np.asarray(matrix), ax=ax, cmap=cmap, annot=annotate, fmt=".2f", cbar=True, square=True,
                annot_kws={"fontsize": MIN_FONT})
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title, fontsize=MIN_FONT)
    return ax


def tsne_scatter(features, labels, classes=None, ax=None, title=None, seed=0, perplexity=30.0):
    """t-SNE (scikit-learn) of features, coloured by label; returns the Axes."""
    from sklearn.manifold import TSNE
    x = np.asarray(features, dtype=np.float32).reshape(len(features), -1)
    perplexity = min(perplexity, max(2.0, (len(x) - 1) / 3))
    emb = TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    ax = _ax(ax, (3.5, 3.5))
    names = np.asarray(classes)[labels] if classes is not None else np.asarray(labels)
    sns.scatterplot(x=emb[:, 0], y=emb[:, 1], hue=names, ax=ax, s=8, palette="tab20", legend=False,
                    linewidth=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=MIN_FONT)
    return ax


def legend_sounding(ax):
    """Legend for the sounding (solid blue) / silent (dashed vermillion) boxes."""
    ax.legend(handles=[Patch(ec=SOUNDING, fill=False, ls=LINESTYLE[True], label="sounding"),
                       Patch(ec=SILENT, fill=False, ls=LINESTYLE[False], label="silent")],
              fontsize=MIN_FONT, loc="lower right")
    return ax


def _png_data_uri(rgba: np.ndarray) -> str:
    import base64
    import io

    from PIL import Image
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _flac_data_uri(wave: np.ndarray, rate: int = SAMPLE_RATE) -> str:
    import base64
    import io

    import soundfile as sf
    buf = io.BytesIO()
    sf.write(buf, np.clip(wave, -1, 1), rate, format="FLAC", subtype="PCM_16")
    return "data:audio/flac;base64," + base64.b64encode(buf.getvalue()).decode()


def audio_player(wave: np.ndarray, rate: int = SAMPLE_RATE, label: str = "") -> str:
    """HTML for an audio player holding the waveform as lossless FLAC (smaller than WAV)."""
    caption = f"<div style='font-size:80%'>{label}</div>" if label else ""
    return f"{caption}<audio controls preload='none' src='{_flac_data_uri(wave, rate)}'></audio>"


def category_table(categories, variant: int = 8, icon_px: int = 36) -> str:
    """An HTML table of categories: icon, name, group, sound source and an audio player."""
    from .world import sound_bank
    kinds = {"gm": "soundfont program {}", "drums": "soundfont drum kit", "speech": "espeak-ng voice {}",
             "synth": "synthesized: {}"}
    rows = []
    for c in categories:
        kind, *args = c.recipe
        source = kinds[kind].format(*(args[:1] or [""]))
        rows.append(
            f"<tr><td><img src='{_png_data_uri(c.icon)}' width='{icon_px}' alt='{c.name}'/></td>"
            f"<td>{c.name}</td><td>{c.group}</td><td>{source}</td>"
            f"<td>{audio_player(sound_bank(c.name)[variant])}</td></tr>")
    head = "<tr><th>icon</th><th>category</th><th>group</th><th>sound</th><th>listen</th></tr>"
    return f"<table>{head}{''.join(rows)}</table>"


#: the forest plot's three scales, by claim kind: (title, x-limits, reference lines)
FOREST_PANELS = {"ratio": ("ours / paper's\neffect", (-1.5, 3.0), (0.0, 1.0)),
                 "standardised": ("no paper ratio:\nmean / SD", (-6.0, 12.0), (0.0,)),
                 "equivalence": ("≈ claims:\nmean / margin", (-3.0, 3.0), (-1.0, 0.0, 1.0))}


def forest_values(r) -> tuple[str, float, float, float] | None:
    """One claim (a scorecard row) on its forest-plot scale: ``(panel, x, lo, hi)``; ``None`` when it
    has nothing to plot (not tested). ``ratio``: ours / the paper's effect with the interval divided
    by it (1 = the paper's effect); claims without a meaningful ratio: the mean in the paper's
    direction over the per-seed SD (0 = no effect); ``≈`` claims: the difference over the margin."""
    if r["verdict"] == "not testable" or missing(r["mean"]) or missing(r["ci_low"]):
        return None
    m, lo, hi = float(r["mean"]), float(r["ci_low"]), float(r["ci_high"])
    if r["direction"] == "≈":
        return "equivalence", m / r["margin"], lo / r["margin"], hi / r["margin"]
    if not missing(r.get("effect_vs_paper")) and not missing(r.get("ratio_low")):
        return "ratio", float(r["effect_vs_paper"]), float(r["ratio_low"]), float(r["ratio_high"])
    sign = 1.0 if r["direction"] == ">" else -1.0
    sd = float(np.std(r["diffs"], ddof=1))
    if sd == 0:
        return None
    lo_s, hi_s = sorted((sign * lo / sd, sign * hi / sd))
    return "standardised", sign * m / sd, lo_s, hi_s


def forest_plot(rows, group: str = "paper", colours=None, label_chars: int = 46, row_height: float = 0.24):
    """Every claim as one row: its effect on the scale of :func:`forest_values` with the 95 % interval,
    coloured by verdict, grouped by ``group``; intervals beyond a panel's limits end in an arrow.
    ``rows``: a DataFrame of scorecard rows (``load_results``). Returns the figure."""
    from matplotlib.lines import Line2D
    colours = colours or {}
    marks = {"reproduced": "o", "contradicted": "s", "inconclusive": "D", "not testable": "x"}
    items, labels = [], []
    for g, sub in rows.groupby(group, sort=False):
        items.append(None)
        labels.append(str(g))
        for _, r in sub.iterrows():
            items.append((r, forest_values(r)))
            text = r["claim"] if len(r["claim"]) <= label_chars else r["claim"][:label_chars - 1] + "…"
            labels.append(text)
    fig, axes = plt.subplots(1, 3, figsize=(8.0, 0.6 + row_height * len(items)), sharey=True,
                             gridspec_kw={"width_ratios": (1.2, 1.0, 0.8)})
    for ax, (name, (title, lim, refs)) in zip(axes, FOREST_PANELS.items()):
        for x in refs:
            ax.axvline(x, color="0.6" if x == 0 else "0.3", lw=0.8, ls="-" if x == 0 else "--")
        for y, item in enumerate(items):
            if item is None:
                ax.axhspan(y - 0.5, y + 0.5, color="0.93", lw=0)
                continue
            r, v = item
            if v is None:
                if name == "standardised":
                    ax.text(0.5, y, "not tested", transform=ax.get_yaxis_transform(), ha="center", va="center",
                            fontsize=MIN_FONT, color=colours.get("not testable", "0.4"))
                continue
            if v[0] != name:
                continue
            c = colours.get(r["verdict"], "k")
            x, lo, hi = (float(np.clip(t, *lim)) for t in v[1:])
            ax.plot([lo, hi], [y, y], color=c, lw=1.6)
            for raw in v[2:]:   # an interval end beyond the panel: an arrow at that edge
                if raw < lim[0] or raw > lim[1]:
                    ax.plot(lim[0] if raw < lim[0] else lim[1], y, marker="<" if raw < lim[0] else ">", color=c, ms=5)
            ax.plot(x, y, marker=marks.get(r["verdict"], "o"), color=c, ms=5, mec="white", mew=0.5)
        ax.set_xlim(*lim)
        ax.set_title(title, fontsize=MIN_FONT)
        ax.tick_params(labelsize=MIN_FONT)
        ax.grid(axis="x", color="0.9", lw=0.5)
    axes[0].set_yticks(range(len(items)), labels)
    for tick, item in zip(axes[0].get_yticklabels(), items):
        if item is None:
            tick.set_fontweight("bold")
    axes[0].set_ylim(len(items) - 0.5, -0.5)
    handles = [Line2D([], [], color=colours.get(v, "k"), marker=marks[v], lw=1.6, label=v)
               for v in ("reproduced", "contradicted", "inconclusive")]
    fig.legend(handles=handles, loc="upper center", ncol=3, fontsize=MIN_FONT, frameon=False,
               bbox_to_anchor=(0.6, 1.0))
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.35 / fig.get_figheight()))
    return fig
