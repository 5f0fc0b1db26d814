"""ffmpeg command lines for each render step, as pure functions of the plan.

Four kinds of run:
- a segment's video: its pieces' clips in, one `filter_complex` (trim on the output frame
  grid, slow-down where a shot's speed is below 1, scale/crop or pad to the output size, fps
  normalisation, cuts and xfades), split once per cut, each cut's cards over its copy (each a
  PNG Pillow drew, looped, faded in and out on its alpha and overlaid: no text ever enters the
  graph), out one H.264 file per cut;
- a segment's bed (only when some shot's own audio plays): those clips' audio, faded with the
  transitions, as float WAV on exactly the segment's samples;
- the mix: the beds joined, the music trimmed (looped if short) and faded, its gain following
  the shots' audio_policy, then loudnorm (pass 1 measures, pass 2 applies) and AAC;
- the join: segments and audio stream-copied into one mp4 with `+faststart`.

Times are frame and sample indices throughout; seconds appear only where ffmpeg wants them
(xfade, -t), computed from frame counts so that they land exactly on frames.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.assemble.layout import Shot
from tasks.assemble.segments import Piece, Segment
from tasks.assemble.sources import SOURCE_SLACK_FRAMES
from tasks.domain.formats import OutputFormat

SAMPLE_RATE = 48_000
AUDIO_FORMAT = f"aresample={SAMPLE_RATE},aformat=sample_fmts=fltp:channel_layouts=stereo"
ENVELOPE_FRAME_SAMPLES = 480  # the music gain is re-evaluated every 10 ms


@dataclass(frozen=True)
class CardPlacement:
    """A drawn card on the output grid: shown over frames [start, end) at (x, y), fading in and
    out over `fade` frames and rising `rise` pixels into place as it comes in; one that ends
    with the video does not fade out."""

    path: Path  # RGBA PNG
    x: int
    y: int
    start: int
    end: int
    fade: int = 0
    rise: int = 0
    hold_end: bool = False


@dataclass(frozen=True)
class Encoder:
    """x264 settings; the benchmark's bare encode uses the same ones."""

    preset: str
    crf: int

    def args(self, fps: int) -> list[str]:
        return [
            "-c:v", "libx264", "-preset", self.preset, "-crf", str(self.crf), "-pix_fmt", "yuv420p",
            "-colorspace", "smpte170m", "-color_primaries", "smpte170m", "-color_trc", "smpte170m",
            "-color_range", "tv",
            # A timescale of exactly one tick per frame keeps joined segments on the frame grid.
            "-video_track_timescale", str(fps),
        ]


def samples(frames: int, fps: int) -> int:
    """Audio samples before output frame `frames`: the one grid audio and video share."""
    return (frames * SAMPLE_RATE + fps // 2) // fps


def fit_filter(fmt: OutputFormat, fit: str) -> str:
    """Scale to the output size: `cover` fills it and crops the overflow, `contain` letterboxes.

    Colours are written as BT.601 limited range, what Phase 2's clips are tagged with (for
    them the conversion is a copy; other inputs are converted). `format=yuv420p` pins 4:2:0
    before the joins, so format negotiation never picks 4:4:4 for whole shots.
    """
    w, h = fmt.width, fmt.height
    colour = "out_color_matrix=bt601:out_range=tv"
    if fit == "cover":
        return f"scale={w}:{h}:force_original_aspect_ratio=increase:{colour},crop={w}:{h},format=yuv420p"
    if fit == "contain":
        return (
            f"scale={w}:{h}:force_original_aspect_ratio=decrease:force_divisible_by=2:{colour},"
            f"pad={w}:{h}:(ow-iw)/2:(oh-ih)/2:black,format=yuv420p"
        )
    raise ValueError(f"unknown fit {fit!r}; expected cover or contain")


def segment_video_command(
    segment: Segment, shots: tuple[Shot, ...], fps: int, fmt: OutputFormat, fit: str, encoder: Encoder,
    outputs: Sequence[tuple[Path, tuple[CardPlacement, ...]]],
) -> list[str]:
    """One segment's pictures: every piece on the output grid and size, joined, then for each
    output (a cut: its file and its cards) the cards that show during it overlaid, encoded.

    The cuts share one run: the clips are decoded, fitted and joined once and split only for
    their cards (the branded and unbranded cuts differ in nothing else)."""
    inputs: list[str] = []
    chains: list[str] = []
    fitting = fit_filter(fmt, fit)
    for k, piece in enumerate(segment.pieces):
        inputs += read_until(piece.source_end, fps, shots[piece.span.index].path)
        chains.append(
            f"[{k}:v:0]setpts=PTS-STARTPTS,fps={fps},tpad=stop_mode=clone:stop={SOURCE_SLACK_FRAMES},"
            f"trim=start_frame={piece.source_start}:end_frame={piece.source_end},{retime(piece, fps)},"
            f"{fitting},setsar=1[v{k}]"
        )
    chains += sequence(segment, shots, fps, "vseq")
    bases = [f"vseq{i}" for i in range(len(outputs))] if len(outputs) > 1 else ["vseq"]
    if len(outputs) > 1:
        chains.append(f"[vseq]split={len(outputs)}" + "".join(f"[{b}]" for b in bases))
    mapped: list[str] = []
    for i, ((path, cards), below) in enumerate(zip(outputs, bases, strict=True)):
        shown = [c for c in cards if c.start < segment.end and c.end > segment.start]
        if not shown:
            chains.append(f"[{below}]null[vout{i}]")
        for j, card in enumerate(shown):
            inputs += ["-loop", "1", "-framerate", str(fps), "-t", seconds(card.end - card.start, fps), "-i",
                       str(card.path)]
            label = f"vout{i}" if j == len(shown) - 1 else f"o{i}_{j}"
            chains += card_chains(card, inputs.count("-i") - 1, f"{i}_{j}", segment, fps, below, label)
            below = label
        mapped += ["-map", f"[vout{i}]", "-fps_mode", "passthrough", *encoder.args(fps), str(path)]
    return [*inputs, "-filter_complex", ";".join(chains), *mapped]


def retime(piece: Piece, fps: int) -> str:
    """The trimmed source onto the output grid: as it is at full speed; slowed, its timestamps
    stretched by 1/speed, the gaps filled by repeating frames (fps), and the piece's frames cut
    from the result by count, so a slowed piece is exactly `piece.frames` frames long."""
    speed = piece.span.speed
    if speed == 1:
        return "setpts=PTS-STARTPTS"
    # the stretched source's last frame may fall up to 1/speed frames before the piece's end
    return (
        f"setpts=(PTS-STARTPTS)/{speed:.6g},fps={fps},tpad=stop_mode=clone:stop={math.ceil(1 / speed)},"
        f"trim=start_frame={piece.offset}:end_frame={piece.offset + piece.frames},setpts=PTS-STARTPTS"
    )


def segment_bed_command(
    segment: Segment, shots: tuple[Shot, ...], fps: int, clip_gains: dict[int, float], out: Path
) -> list[str]:
    """One segment's "bed": its shots' own audio, on exactly the segment's samples.

    `clip_gains` maps a shot index to the gain of its own audio, for shots whose audio plays;
    only those clips are opened, and only their audio is read.
    """
    inputs: list[str] = []
    chains: list[str] = []
    labels: list[str] = []
    for piece in segment.pieces:
        gain = clip_gains.get(piece.span.index)
        if gain is None:
            continue
        k = len(labels)
        inputs += ["-vn", *read_until(piece.source_end, fps, shots[piece.span.index].path)]
        chains.append(piece_audio(k, piece, segment.start, fps, gain))
        labels.append(f"[a{k}]")
    length = samples(segment.end, fps) - samples(segment.start, fps)
    chains.append(f"{silence(length)}[base]")
    chains.append(
        f"[base]{''.join(labels)}amix=inputs={1 + len(labels)}:normalize=0:duration=first:dropout_transition=0[aout]"
    )
    return [*inputs, "-filter_complex", ";".join(chains), "-map", "[aout]", "-c:a", "pcm_f32le", str(out)]


def read_until(frame: int, fps: int, path: Path) -> list[str]:
    """Input options reading `path` only as far as output frame `frame` (plus the slack)."""
    return ["-t", seconds(frame + SOURCE_SLACK_FRAMES + 1, fps), "-i", str(path)]


def silence(samples_: int) -> str:
    return f"anullsrc=r={SAMPLE_RATE}:cl=stereo,atrim=end_sample={samples_}"


def card_chains(card: CardPlacement, k: int, j: str, segment: Segment, fps: int, below: str, out: str) -> list[str]:
    """Input k (card j) faded on its own clock, cut to this segment, and overlaid on [below]."""
    frames = card.end - card.start
    fades = f",fade=t=in:s=0:n={card.fade}:alpha=1" if card.fade else ""
    if card.fade and not card.hold_end:
        fades += f",fade=t=out:s={frames - card.fade}:n={card.fade}:alpha=1"
    first, last = max(card.start, segment.start), min(card.end, segment.end)
    y = str(card.y)
    if card.fade and card.rise:  # eased: fast at first, settling into place
        entry = seconds(card.start - segment.start, fps)
        y = f"'{card.y}+{card.rise}*pow(max(0,1-(t-{entry})/{seconds(card.fade, fps)}),2)'"
    # The card is blended in the video's own 4:2:0 (converted once, BT.601 limited like the
    # clips): overlay's `format=auto` took every frame of the segment to RGB and back for each
    # card, which cost 4x the encode and shifted the colours of the whole picture.
    return [
        (f"[{k}:v]format=rgba{fades},trim=start_frame={first - card.start}:end_frame={last - card.start},"
         f"setpts=PTS-STARTPTS+{first - segment.start}/({fps}*TB),"
         f"scale=out_color_matrix=bt601:out_range=tv,format=yuva420p[c{j}]"),
        f"[{below}][c{j}]overlay=x={card.x}:y={y}:eof_action=pass:format=yuv420[{out}]",
    ]


def sequence(segment: Segment, shots: tuple[Shot, ...], fps: int, out: str) -> list[str]:
    """Pieces [v0].. joined into [out]: bodies and transitions, concatenated in order.

    xfade works in 4:4:4 only, so a chain of xfades would convert every frame of the
    segment to 4:4:4 and back. Instead each piece is split into its transition head, its
    body and its transition tail; only a tail and the next head go through xfade (and that
    conversion), and everything is joined by one concat, where bodies pass untouched.
    """
    chains, parts = [], []
    for k, piece in enumerate(segment.pieces):
        head, tail = piece.fade_in, piece.fade_out
        body = piece.frames - head - tail
        cuts = [(f"h{k}", 0, head), (f"b{k}", head, head + body), (f"t{k}", head + body, piece.frames)]
        cuts = [(label, a, b) for label, a, b in cuts if b > a]
        if len(cuts) == 1:
            chains.append(f"[v{k}]null[{cuts[0][0]}]")
        else:
            chains.append(f"[v{k}]split={len(cuts)}" + "".join(f"[{label}s]" for label, _, _ in cuts))
            chains += [
                f"[{label}s]trim=start_frame={a}:end_frame={b},setpts=PTS-STARTPTS[{label}]" for label, a, b in cuts
            ]
        if head:
            transition = shots[piece.span.index].transition.value
            chains.append(
                f"[t{k - 1}][h{k}]xfade=transition={transition}:duration={seconds(head, fps)}:offset=0,"
                f"format=yuv420p[x{k}]"
            )
            parts.append(f"[x{k}]")
        if body:
            parts.append(f"[b{k}]")
    # concat answers in microseconds; settb puts the frames back on the 1/fps grid
    chains.append(f"{''.join(parts)}concat=n={len(parts)}:v=1:a=0,settb=1/{fps},format=yuv420p[{out}]")
    return chains


def piece_audio(k: int, piece: Piece, segment_start: int, fps: int, gain: float) -> str:
    """Input k's audio for `piece`, on the segment's sample grid, crossfading with its transitions.
    Full-speed pieces only: a slowed shot's own audio never plays (mixing.shot_gains)."""
    start = samples(piece.source_start, fps)
    length = samples(piece.end, fps) - samples(piece.start, fps)
    chain = (
        f"[{k}:a:0]{AUDIO_FORMAT},asetpts=PTS-STARTPTS,"
        f"atrim=start_sample={start}:end_sample={start + length},asetpts=PTS-STARTPTS,"
        f"apad=whole_len={length}"
    )
    if piece.fade_in:
        chain += f",afade=t=in:ss=0:ns={samples(piece.fade_in, fps)}"
    if piece.fade_out:
        fade = samples(piece.fade_out, fps)
        chain += f",afade=t=out:ss={length - fade}:ns={fade}"
    delay = samples(piece.start, fps) - samples(segment_start, fps)
    return f"{chain},volume={gain:.6g},adelay=delays={delay}S:all=1[a{k}]"


@dataclass(frozen=True)
class MusicPlan:
    path: Path
    fade_in_s: float
    fade_out_s: float
    gain_expression: str | None  # None: full level throughout


def mix_command(
    bed_list: Path | None, music: MusicPlan | None, total_frames: int, fps: int, loudnorm: str | None,
    output: list[str],
) -> list[str]:
    """The final audio: the beds (silence when no shot's own audio plays) plus the music,
    `loudnorm` (a filter, or None) last, then `output`."""
    total = samples(total_frames, fps)
    inputs: list[str] = []
    if bed_list is not None:
        inputs += ["-f", "concat", "-safe", "0", "-i", str(bed_list)]
        chains = [f"[0:a]atrim=end_sample={total},asetpts=PTS-STARTPTS[bed]"]
    else:
        chains = [f"{silence(total)}[bed]"]
    mixed = "bed"
    if music is not None:
        music_input = 0 if bed_list is None else 1
        inputs += ["-stream_loop", "-1", "-t", f"{total / SAMPLE_RATE + 1:.3f}", "-i", str(music.path)]
        quarter = total // 4  # fades never take more than a quarter of a short video each
        fade_in = min(round(music.fade_in_s * SAMPLE_RATE), quarter)
        fade_out = min(round(music.fade_out_s * SAMPLE_RATE), quarter)
        chain = f"[{music_input}:a:0]{AUDIO_FORMAT},asetpts=PTS-STARTPTS,atrim=end_sample={total}"
        if fade_in:
            chain += f",afade=t=in:ss=0:ns={fade_in}"
        if fade_out:
            chain += f",afade=t=out:ss={total - fade_out}:ns={fade_out}"
        if music.gain_expression:
            chain += (
                f",asetnsamples=n={ENVELOPE_FRAME_SAMPLES}"
                f",volume=volume='{music.gain_expression}':eval=frame"
            )
        chains.append(chain + "[music]")
        chains.append("[bed][music]amix=inputs=2:normalize=0:duration=first:dropout_transition=0[mix]")
        mixed = "mix"
    normalise = f"{loudnorm}," if loudnorm else ""
    chains.append(f"[{mixed}]{normalise}{AUDIO_FORMAT},apad=whole_len={total},atrim=end_sample={total}[aout]")
    return [*inputs, "-filter_complex", ";".join(chains), "-map", "[aout]", *output]


def join_command(video_list: Path, audio: Path, output: Path) -> list[str]:
    """Segments and audio into the final mp4, stream-copied (no second encode)."""
    return [
        "-f", "concat", "-safe", "0", "-i", str(video_list), "-i", str(audio),
        "-map", "0:v:0", "-map", "1:a:0", "-c", "copy", "-movflags", "+faststart", str(output),
    ]


def concat_list(paths: list[Path]) -> str:
    """An ffmpeg concat-demuxer list naming `paths` (quotes escaped the demuxer's way)."""
    return "".join("file '{}'\n".format(str(p.resolve()).replace("'", "'\\''")) for p in paths)


def seconds(frames: int, fps: int) -> str:
    return f"{frames / fps:.6f}"
