"""The `vidcolor` command: a thin shell over the library.

Each command parses its arguments, calls the library, and reports. What each
setting may be is options.py's to say; a setting out of bounds (OptionError), like
any library error, becomes one line on stderr and an exit code (exits.py);
`--debug` shows the traceback instead. Ctrl-C (exit 130) and SIGTERM (exit 143)
stop a command the same way, with one line. Warnings go through tqdm.write, so
they never land on a progress bar's line. Heavy imports (TensorFlow) happen only
inside the commands that need them, so `vidcolor --help` is instant.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer

from .errors import VidcolorError
from .exits import ends_in_one_line, fail as _fail, one_line, stopped as _stopped, warn as _warn
from .options import CODECS, DEFAULT_RENDER_SIZE, KEY_INTERVAL, X264_PRESETS, allowed, check_settings

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Bring black-and-white films and photographs back in colour.")
_state = {"debug": False}

WeightsOption = typer.Option(None, "--weights", "-w", help="Weights file (.weights.h5 with its .json); default: the shipped model.")
RenderSizeOption = typer.Option(DEFAULT_RENDER_SIZE, "--render-size", help="Short side, in pixels, at which the model "
                                f"sees each frame ({allowed('render_size')}).")
ForceOption = typer.Option(False, "--force", "-f", help="Overwrite existing outputs.")
QuietOption = typer.Option(False, "--quiet", "-q", help="No progress bars.")
BatchSizeOption = typer.Option(None, "--batch-size", help="Key frames per model call (at least 1); default 8 on CPU, 32 on GPU.")
KeyIntervalOption = typer.Option(KEY_INTERVAL, "--key-interval", help="The model colours every n-th frame of a shot; "
                                 "motion-following optical flow fills the frames between (1 = every frame; "
                                 f"{allowed('key_interval')}).")
KeyFramesOption = typer.Option("fixed", "--key-frames", help="fixed: every --key-interval-th frame of a shot is a key "
                                "frame; adaptive: every second one too where the picture moves, else only every 2n-th.")
PrecisionOption = typer.Option("auto", "--precision", help="Model arithmetic: auto, float32, mixed_bfloat16 or "
                               "mixed_float16 (auto: bf16 on CPUs that have it, mixed precision on GPUs).")
SmoothOption = typer.Option(True, "--smooth/--no-smooth", help="Temporal a*b* smoothing within shots.")
SmoothStrengthOption = typer.Option(0.6, "--smooth-strength", help="0 = off, 1 = full neighbour average.")
CrfOption = typer.Option(18, "--crf", help=f"H.264/HEVC quality, {allowed('crf')} (lower = better, bigger; 0 = lossless).")
PresetOption = typer.Option("veryfast", "--preset", help=f"H.264/HEVC speed preset ({', '.join(X264_PRESETS)}).")
CodecOption = typer.Option("auto", "--codec", help=f"Output video codec: {', '.join(CODECS)} (auto: FFV1 and ProRes "
                           "masters and 10-bit HEVC stay what they are, the rest becomes H.264).")
StyleOption = typer.Option(None, "--style", help="How boldly to colour: vivid (rare, saturated colours too) or "
                           "muted (grey walls and streets stay grey); default muted for films, vivid for stills.")
RecolorAllOption = typer.Option(False, "--recolor-all", help="Colour the shots that are in colour already too "
                                "(by default they are left as they are).")


@app.callback()
def main(debug: bool = typer.Option(False, "--debug", help="Show full tracebacks on errors.")) -> None:
    _state["debug"] = debug


def _command(function):
    return app.command()(ends_in_one_line(function, lambda: _state["debug"]))


def _film_options(arguments: dict):
    """The RemasterOptions of the remaster and batch commands, from their arguments (their locals()):
    those named as the settings are, and --quiet as progress."""
    from .options import RemasterOptions

    settings = {name: value for name, value in arguments.items() if name in RemasterOptions.setting_names()}
    return RemasterOptions.of(**settings, progress=not arguments["quiet"])


@_command
def remaster(
    source: Path = typer.Argument(..., help="Black-and-white film (any container FFmpeg reads)."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Output file; default <name>_color<ext> beside the input "
                                          "(.mkv, or .mov for ProRes, where the input's container cannot hold the "
                                          "output's codec)."),
    weights: Optional[Path] = WeightsOption,
    render_size: int = RenderSizeOption,
    key_interval: int = KeyIntervalOption,
    key_frames: str = KeyFramesOption,
    batch_size: Optional[int] = BatchSizeOption,
    precision: str = PrecisionOption,
    smooth: bool = SmoothOption,
    smooth_strength: float = SmoothStrengthOption,
    crf: int = CrfOption,
    preset: str = PresetOption,
    codec: str = CodecOption,
    force: bool = ForceOption,
    resume: bool = typer.Option(False, "--resume", help="Go on from the finished segments of an interrupted run "
                                "with the same settings (kept beside the output), instead of starting over."),
    direction: Optional[Path] = typer.Option(None, "--direction", "-d", help="Direction file (`vidcolor shots` writes "
                                             "one): reference photos, hints, keep or grey, per film or per shot."),
    recolor_all: bool = RecolorAllOption,
    style: Optional[str] = StyleOption,
    quiet: bool = QuietOption,
) -> None:
    """Colour a film, keeping its sound, timing and original lightness."""
    options = _film_options(locals())
    from .film.remaster import kept_line, remaster as run_remaster

    try:
        result = run_remaster(source, output, options, resume=resume, on_warning=_warn, direction=direction)
    except KeyboardInterrupt as exc:
        folder = getattr(exc, "kept_in", None)  # where remaster() kept finished segments, if it did
        if folder is not None and not _state["debug"]:
            _stopped(exc, f"finished segments are kept in {folder}, rerun with --resume to go on")
        raise
    resumed = f", {result.resumed_frames} resumed" if result.resumed_frames else ""
    typer.echo(f"{result.output}  ({result.codec}, {result.frames} frames{resumed}, {result.shots} shots, {result.seconds:.1f} s, "
               f"{result.frames / max(result.seconds, 1e-9):.1f} fps)")
    if result.kept_shots:
        typer.echo(kept_line(result.kept_shots))
    if result.warnings:
        typer.echo(f"vidcolor: finished with {len(result.warnings)} warning(s), see above", err=True)


@_command
def colorize(
    paths: List[Path] = typer.Argument(..., help="Images and/or folders of images."),
    out_dir: Optional[Path] = typer.Option(None, "--output-dir", "-o", help="Folder for the results; default beside each input."),
    weights: Optional[Path] = WeightsOption,
    render_size: int = RenderSizeOption,
    precision: str = PrecisionOption,
    reference: Optional[Path] = typer.Option(None, "--reference", "-r", help="A colour photo whose palette "
                                             "the pictures take."),
    strength: float = typer.Option(1.0, "--strength", help="How strongly the reference's palette counts "
                                   f"({allowed('strength')}; 2 and more: mostly its colours)."),
    hint: List[str] = typer.Option([], "--hint", help="A colour at a point, X,Y=#RRGGBB with X and Y fractions "
                                   "of the width and height from the top left (e.g. 0.3,0.4=#1f3a93); repeatable."),
    style: Optional[str] = StyleOption,
    force: bool = ForceOption,
    quiet: bool = QuietOption,
) -> None:
    """Colour still images (JPEG, PNG, TIFF incl. 16-bit): writes <name>_color<ext>."""
    from tqdm import tqdm

    from .film.direction_file import parse_hint
    from .model import colorizer_for
    from .options import STILL_STYLE
    from .outputs import colored_name, output_folder
    from .model.palette import Reference
    from .stills import colorize_image, find_images

    check_settings(precision=precision, style=style, render_size=render_size, strength=strength)
    hints = [parse_hint(text) for text in hint]
    if reference is not None and not reference.is_file():
        _fail(f"--reference {reference}: no such file", 2)
    reference = None if reference is None else Reference(reference)  # read once, for every picture
    files = find_images(paths)
    if not files:
        _fail("no images found in " + ", ".join(map(str, paths)), 2)
    with output_folder(out_dir):  # removed again if the run fails before it writes there
        ready = _writable_outputs(files, out_dir, force)  # before the model loads
        colorizer = colorizer_for(style or STILL_STYLE, weights=weights, precision=precision)
        failed = len(files) - len(ready)
        for path in tqdm(ready, desc="colouring", unit="image", disable=quiet):
            try:
                result = colorize_image(path, colored_name(path, out_dir), colorizer=colorizer, precision=precision,
                                        render_size=render_size, force=force, on_warning=_warn, reference=reference,
                                        strength=strength, hints=hints, style=style)
                if not quiet:
                    tqdm.write(str(result.output))
            except VidcolorError as exc:
                if _state["debug"]:
                    raise
                failed += 1
                tqdm.write(f"vidcolor: {one_line(exc)}", file=sys.stderr)
    if failed:
        _fail(f"{failed} of {len(files)} images failed", 1)


def _writable_outputs(files: list[Path], out_dir: Optional[Path], force: bool) -> list[Path]:
    """The pictures whose outputs can be written (stills.check_still_output); each other one is told in
    its line. None: the command ends (one line for one picture), exit 3 as for a film's output."""
    from .outputs import colored_name
    from .stills import check_still_output

    ready, refused = [], []
    for path in files:
        try:
            check_still_output(path, colored_name(path, out_dir), force)
            ready.append(path)
        except VidcolorError as exc:
            if _state["debug"] or len(files) == 1:
                raise  # one picture: its own line is all there is to say
            refused.append(exc)
            typer.echo(f"vidcolor: {one_line(exc)}", err=True)
    if not ready:
        _fail(f"{len(refused)} of {len(files)} images failed", max(exc.exit_code for exc in refused))
    return ready


@_command
def batch(
    src_dir: Path = typer.Argument(..., help="Folder of films and photos, searched recursively (by content, not name)."),
    out_dir: Path = typer.Option(..., "--output-dir", "-o", help="Folder for the results (same tree as SRC_DIR) and the manifest."),
    weights: Optional[Path] = WeightsOption,
    render_size: int = RenderSizeOption,
    key_interval: int = KeyIntervalOption,
    key_frames: str = KeyFramesOption,
    batch_size: Optional[int] = BatchSizeOption,
    precision: str = PrecisionOption,
    smooth: bool = SmoothOption,
    smooth_strength: float = SmoothStrengthOption,
    crf: int = CrfOption,
    preset: str = PresetOption,
    codec: str = CodecOption,
    force: bool = typer.Option(False, "--force", "-f", help="Redo files already done and overwrite existing outputs."),
    recolor_all: bool = RecolorAllOption,
    style: Optional[str] = StyleOption,
    quiet: bool = QuietOption,
    ray: Optional[str] = typer.Option(None, "--ray", metavar="[ADDRESS]", help="Run on Ray (pip install \"vidcolor[ray]\"): "
                                      "a local instance on this machine's cores and GPUs (no ADDRESS, or local), or a "
                                      "running cluster (auto, or ray://HOST:10001) whose nodes all see SRC_DIR and OUT_DIR."),
    worker_cpus: Optional[int] = typer.Option(None, "--worker-cpus", min=1, help="With --ray: CPU cores per worker on "
                                              "nodes without GPUs (default 4); nodes with GPUs get one worker per GPU."),
    split_frames: Optional[int] = typer.Option(None, "--split-frames", min=0, help="With --ray: a film longer than twice "
                                               "this is coloured in pieces of about this many frames by several workers "
                                               "at once (default 4096; 0: never)."),
) -> None:
    """Colour every film and photo under a folder. Rerun to resume: done files are skipped, failed ones retried."""
    options = _film_options(locals())
    from .batch.archive import MANIFEST_NAME, format_summary, run_batch

    executor = None
    if ray is not None:
        from .batch.ray_executor import SPLIT_FRAMES, WORKER_CPUS, RayExecutor, import_ray

        import_ray()  # one line now if it is not installed
        executor = RayExecutor(ray, worker_cpus=worker_cpus or WORKER_CPUS,
                               split_frames=SPLIT_FRAMES if split_frames is None else split_frames)
    elif worker_cpus is not None or split_frames is not None:
        _fail("--worker-cpus and --split-frames go with --ray", 2)

    try:
        summary = run_batch(src_dir, out_dir, options, executor=executor, progress=not quiet)
    except KeyboardInterrupt as exc:
        if _state["debug"]:
            raise
        _stopped(exc, f"finished files are recorded in {out_dir / MANIFEST_NAME}, rerun to go on")
    typer.echo(format_summary(summary))
    if summary.counts["failed"]:
        raise typer.Exit(1)


@_command
def shots(
    source: Path = typer.Argument(..., help="Film whose shots to list."),
    out_dir: Optional[Path] = typer.Option(None, "--output-dir", "-o", help="Folder for the results; default beside the film."),
    preview: bool = typer.Option(False, "--preview", help="Show each shot's first frame coloured too (loads the model)."),
    direction: Optional[Path] = typer.Option(None, "--direction", "-d", help="With --preview: colour the sheet as this "
                                             "direction file says (no new direction file is written)."),
    recolor_all: bool = RecolorAllOption,
    weights: Optional[Path] = WeightsOption,
    render_size: int = RenderSizeOption,
    precision: str = PrecisionOption,
    style: Optional[str] = StyleOption,
    force: bool = ForceOption,
    quiet: bool = QuietOption,
) -> None:
    """List a film's shots: a contact sheet <name>_shots.png and a direction file <name>_direction.toml to edit."""
    from .film.direction_file import timecode
    from .film.shot_list import list_shots

    check_settings(precision=precision, style=style, render_size=render_size)
    if direction is not None and not preview:
        _fail("--direction goes with --preview (to see a direction on the contact sheet)", 2)
    result = list_shots(source, out_dir, preview=preview, direction=direction, recolor_all=recolor_all,
                        weights=weights, precision=precision, render_size=render_size, force=force, on_warning=_warn,
                        style=style)
    if not quiet:
        for shot in result.shots:
            typer.echo(f"{shot.number:4d}  frame {shot.first_frame:<7d} {timecode(shot.start)} - {timecode(shot.end)}"
                       f"  {shot.looks}")
    written = "  ".join(str(p) for p in (result.sheet, result.direction) if p is not None)
    typer.echo(f"{written}  ({len(result.shots)} shots)")


@_command
def train(
    data_dir: Path = typer.Argument(..., help="Folder of colour images (searched recursively; each subfolder a source)."),
    run_dir: Path = typer.Argument(..., help="Folder for the cache, checkpoints, pictures and the final weights."),
    val_dir: Optional[Path] = typer.Option(None, "--val", help="Held-out colour images, scored after each epoch."),
    arch: str = typer.Option("lite0_unet", "--arch", help="lite0_unet (pretrained encoder, hints) or koalarization (the paper's)."),
    init: Optional[Path] = typer.Option(None, "--init", help="Start from these weights (e.g. the shipped model) to fine-tune."),
    head: str = typer.Option("classification", "--head", help="classification (vivid) or regression (the paper's MSE; koalarization only)."),
    embedder: str = typer.Option("efficientnet_lite0", "--embedder", help="efficientnet_lite0 or inception_resnet_v2 (koalarization only)."),
    crop: int = typer.Option(192, "--crop", min=16, help="Training crop size (multiple of 32 for lite0_unet, 8 for koalarization)."),
    batch_size: int = typer.Option(16, "--batch-size", min=1),
    epochs: int = typer.Option(10, "--epochs", min=1),
    steps_per_epoch: Optional[int] = typer.Option(None, "--steps-per-epoch", min=1),
    learning_rate: float = typer.Option(1e-3, "--lr"),
    freeze_steps: int = typer.Option(2000, "--freeze-steps", min=0, help="lite0_unet: steps with the pretrained encoder frozen."),
    finetune_scale: float = typer.Option(0.25, "--finetune-scale", min=0.0, help="Learning rate after --freeze-steps, relative to --lr."),
    degrade: float = typer.Option(0.6, "--degrade", min=0.0, max=1.0, help="Share of samples made to look like archive film."),
    hints: float = typer.Option(0.5, "--hints", min=0.0, max=1.0, help="Share of samples given colour hints from the truth."),
    embedding_swap: float = typer.Option(0.0, "--embedding-swap", min=0.0, max=1.0, help="Share of samples given a "
                                         "look-alike photo's embedding, not their own."),
    neutral_weight: float = typer.Option(1.0, "--neutral-weight", min=0.0, help="Loss weight factor on nearly neutral truth."),
    seed: int = typer.Option(0, "--seed"),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in RUN_DIR from its last checkpoint."),
    preset: Optional[str] = typer.Option(None, "--preset", help="tiny: a few steps on small crops (for tests)."),
    quiet: bool = QuietOption,
) -> None:
    """Train a colorizer on any folder of colour photos (resumable; TensorFlow or, with KERAS_BACKEND=jax, JAX)."""
    from .training.train import PRESETS, TrainOptions
    from .training.train import train as run_train

    from .model import architecture_problem

    problem = architecture_problem(arch, head, embedder, crop)
    if problem:
        _fail(f"--arch {arch}: {problem}", 2)
    if init is not None and not init.is_file():
        _fail(f"--init {init}: no such weights file", 2)
    values = dict(crop=crop, batch_size=batch_size, epochs=epochs, steps_per_epoch=steps_per_epoch)
    if preset:
        if preset not in PRESETS:
            _fail(f"--preset {preset}: unknown (known: {', '.join(PRESETS)})", 2)
        values.update(PRESETS[preset])
    values.setdefault("freeze_steps", freeze_steps)
    options = TrainOptions(data_dir, run_dir, val_dir, arch, head, embedder, learning_rate=learning_rate, seed=seed,
                           finetune_scale=finetune_scale, degrade=degrade, with_hints=hints, embedding_swap=embedding_swap,
                           neutral_weight=neutral_weight, init=init, resume=resume, **values)
    try:
        path = run_train(options, progress=not quiet)
    except KeyboardInterrupt as exc:
        if _state["debug"]:
            raise
        _stopped(exc, f"rerun with --resume to go on from the last checkpoint in {run_dir}, if it made one")
    typer.echo(str(path))


@_command
def evaluate(
    source: Path = typer.Argument(..., help="Folder of colour photos, or a colour video."),
    weights: Optional[Path] = WeightsOption,
    report: Path = typer.Option(Path("evaluation.json"), "--report", help="JSON report to write."),
    sheet: Path = typer.Option(Path("evaluation.png"), "--sheet", help="Contact sheet: grey | vidcolor | truth."),
    limit: Optional[int] = typer.Option(None, "--limit", min=1, help="Use at most this many images / frames."),
    render_size: int = RenderSizeOption,
    key_interval: int = KeyIntervalOption,
    precision: str = PrecisionOption,
    style: Optional[str] = StyleOption,
    force: bool = ForceOption,
    quiet: bool = QuietOption,
) -> None:
    """Grey a colour source, colour it back, and score it against the truth and a grey baseline."""
    import json

    from .training.evaluate import evaluate_path, write_report
    from .outputs import refuse_overwrite

    check_settings(precision=precision, style=style, render_size=render_size, key_interval=key_interval)
    for output in (report, sheet):
        refuse_overwrite(output, force)
    result = evaluate_path(source, weights=weights, sheet=sheet, limit=limit, render_size=render_size,
                           key_interval=key_interval, precision=precision, progress=not quiet, style=style)
    write_report(result, report)
    typer.echo(json.dumps({k: result[k] for k in ("prediction", "grey_baseline") if k in result}, indent=1))
    typer.echo(f"report: {report}  sheet: {sheet}")


@_command
def studio(
    source: Path = typer.Argument(..., help="Film (or still) whose colour to direct."),
    port: int = typer.Option(0, "--port", help="Port to listen on (default: a free one)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (default 127.0.0.1, this machine "
                             "only); another exposes the film to whoever can reach it there and has the link."),
    no_browser: bool = typer.Option(False, "--no-browser", help="Print the studio's link without opening a browser."),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="Where Render writes the film; default "
                                          "<name>_color<ext> beside it, as remaster names it (a still: <name>_color<ext>)."),
    weights: Optional[Path] = WeightsOption, precision: str = PrecisionOption, render_size: int = RenderSizeOption,
) -> None:
    """Direct the colour in a browser: place hints, choose reference photos, keep or grey shots, and see each change at once."""
    from .studio import StudioSettings, run_studio, studio_unavailable_message

    if studio_unavailable_message():
        _fail(studio_unavailable_message(), 1)
    try:
        run_studio(source, StudioSettings(weights, precision, render_size, output, host, port),
                   open_browser=not no_browser, on_warning=_warn,
                   on_ready=lambda url: typer.echo(f"vidcolor studio: {url}  (Ctrl-C stops it)"))
    except KeyboardInterrupt as exc:
        _stopped(exc, "the studio stopped; what it saved is kept")


def bare_ray_is_local(args: list[str]) -> list[str]:
    """A bare `--ray` means a local Ray instance (no Typer option's value may be left out): `local` put after it."""
    out = []
    for i, arg in enumerate(args):
        out.append(arg)
        if arg == "--ray" and (i + 1 == len(args) or args[i + 1].startswith("-")):
            out.append("local")
    return out


def run() -> None:
    sys.argv[1:] = bare_ray_is_local(sys.argv[1:])
    sys.exit(app())
