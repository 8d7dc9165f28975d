"""`xview train distill|twin|siamese|teacher`: train a cross-view distillation model, a twin network with
orientation, a Siamese embedding, or the synthetic world's teacher."""

from __future__ import annotations

import argparse

from xview_engine.cli._numbers import count, number, positive
from xview_engine.limits import (
    MAX_BATCH_SIZE,
    MAX_DISTANCE_M,
    MAX_EPOCHS,
    MAX_GSD_M,
    MAX_NEGATIVES,
    MAX_SEED,
    MAX_TILE_PX,
    MAX_WIDTH,
    check_count,
)

EPOCHS = count(0, MAX_EPOCHS)
BATCH = count(1, MAX_BATCH_SIZE)
SEED = count(0, MAX_SEED)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("train", help="train a distillation model or the synthetic teacher",
                                   description=__doc__)
    sub = parser.add_subparsers(dest="what", metavar="WHAT", parser_class=type(parser))
    sub.required = True
    _distill_parser(sub)
    _twin_parser(sub)
    _siamese_parser(sub)
    _teacher_parser(sub)


def _distill_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("distill", help="two-stage cross-view distillation (KL pre-training, then NLL heads)")
    p.add_argument("pairs", help="pairs CSV (path, lat, lon, split, optional tile column)")
    p.add_argument("--labels", required=True, help="label file from xview teach (or xview synth's labels.npz)")
    p.add_argument("--raster", help="overhead raster cut at the model GSD around each photo (else the tile column)")
    p.add_argument("-o", "--out", required=True, help="model file to write (.safetensors); log CSV and PNG beside it")
    p.add_argument("--heads", help="comma-separated heads of the label file to train (default all)")
    _backbone_arguments(p, "resnet50", "the encoder")
    p.add_argument("--hidden", type=count(1, MAX_WIDTH), default=1024, help="hidden width of each head (default 1024)")
    p.add_argument("--baseline", action="store_true", help="mean-only heads (squared error), the seed's baseline")
    p.add_argument("--time-features", help="a time-aware model: cycles of when each photo was taken fed to the heads, "
                   "e.g. month,hour (times from the pairs CSV's time column, else EXIF DateTimeOriginal)")
    p.add_argument("--epochs-pretrain", type=EPOCHS, default=3, help="stage 1 epochs (default 3)")
    p.add_argument("--epochs-heads", type=EPOCHS, default=3, help="stage 2 epochs (default 3)")
    _optimiser_arguments(p)
    p.add_argument("--batch-size", type=BATCH, default=32)
    p.add_argument("--no-flips", action="store_true", help="no random flips")
    p.add_argument("--rot90", action="store_true", help="also random 90-degree rotations")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run_distill)


def _backbone_arguments(p: argparse.ArgumentParser, default: str, initialised: str) -> None:
    """Backbone, its options and weights, and the tile it sees: the same for every trainer."""
    p.add_argument("--backbone", default=default, help=f"backbone (resnet18/50, tiny_cnn, ...; default {default})")
    p.add_argument("--backbone-option", action="append", default=[], metavar="KEY=INT",
                   help="backbone option, e.g. width=16 (repeatable)")
    p.add_argument("--backbone-weights", help=f"torchvision .pth to initialise {initialised} from, or a published "
                   "file by name (e.g. imagenet:resnet50; see xview weights list)")
    p.add_argument("--tile-px", type=count(1, MAX_TILE_PX), default=224, help="tile size in pixels (default 224)")
    p.add_argument("--gsd", type=positive(MAX_GSD_M), default=0.5,
                   help="model ground sample distance in metres (default 0.5)")


def _optimiser_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lr", type=positive(10.0), default=1e-3, help="learning rate (default 0.001)")
    p.add_argument("--weight-decay", type=number(0, 1), default=5e-4, help="weight decay (default 0.0005)")


def _siamese_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("siamese", help="Siamese photo / tile embedding on matched and unmatched pairs (Where-CNN)")
    p.add_argument("pairs", help="pairs CSV (path, lat, lon, split)")
    p.add_argument("--raster", required=True, help="overhead raster cut at the model GSD around each photo")
    p.add_argument("-o", "--out", required=True, help="model file to write (.safetensors); log CSV and PNG beside it")
    _backbone_arguments(p, "resnet18", "every branch's backbone")
    p.add_argument("--domain-specific", action="store_true",
                   help="separate ground and aerial branches (default: shared weights, one feature space)")
    p.add_argument("--dim", type=count(1, MAX_WIDTH), default=128, help="embedding width (default 128)")
    p.add_argument("--photo-px", default="128,256", help="ground photo input HEIGHT,WIDTH (default 128,256)")
    p.add_argument("--margin", type=positive(1e6), default=1.0, help="contrastive margin m on the distance (default 1)")
    p.add_argument("--negatives", type=count(1, MAX_NEGATIVES), default=20,
                   help="unmatched pairs per matched one (default 20)")
    p.add_argument("--min-distance-m", type=number(0, MAX_DISTANCE_M), default=100.0,
                   help="unmatched tiles lie at least this far from the photo (default 100 m)")
    p.add_argument("--epochs", type=count(1, MAX_EPOCHS), default=5)
    _optimiser_arguments(p)
    p.add_argument("--batch-size", type=BATCH, default=64, help="pairs per batch (default 64)")
    p.add_argument("--no-flips", action="store_true", help="no random tile flips")
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run_siamese)


def _twin_parser(sub: argparse._SubParsersAction) -> None:
    from xview_engine.training.twin_params import TWIN_BRANCH_NAMES, TwinParams

    d = TwinParams()
    p = sub.add_parser("twin", help="twin network with orientation (DSM): soft-margin triplet over polar tiles")
    p.add_argument("pairs", help="pairs CSV (path, lat, lon, split[, heading, fov, tile])")
    p.add_argument("--raster", help="overhead raster cut at the model GSD around each photo (else the tile column: "
                   "one overhead image per photo, centred on it, north up)")
    p.add_argument("-o", "--out", required=True, help="model file to write (.safetensors); log CSV and PNG beside it")
    p.add_argument("--branch", default=d.branch, choices=TWIN_BRANCH_NAMES,
                   help=f"both branches' architecture (default {d.branch}; vgg16 for real photos)")
    p.add_argument("--backbone-weights", help="torchvision VGG16 .pth to initialise both vgg16 branches from, or "
                   "imagenet:vgg16 (the published file, cached by xview weights)")
    p.add_argument("--tile-px", type=count(1, MAX_TILE_PX), default=d.tile_px,
                   help=f"overhead tile size in pixels (default {d.tile_px})")
    p.add_argument("--gsd", type=positive(MAX_GSD_M), default=d.gsd_m, help=f"model ground sample distance in metres "
                   f"(default {d.gsd_m:g})")
    p.add_argument("--polar", default=f"{d.polar_h},{d.polar_w}",
                   help=f"polar panorama HEIGHT,WIDTH in pixels (default {d.polar_h},{d.polar_w}; DSM 128,512)")
    p.add_argument("--fov", default=d.fov_text,
                   help="cut panoramas to this field of view at training time (default 360); several as "
                   "360,180,90,70 or a range as 70-360: each batch draws one, so one model serves limited-FOV photos")
    p.add_argument("--alpha", type=positive(1000.0), default=d.alpha, help=f"soft-margin weight (default {d.alpha:g})")
    p.add_argument("--epochs", type=EPOCHS, default=d.epochs)
    p.add_argument("--patience", type=count(1, MAX_EPOCHS), default=d.patience,
                   help="epochs without a better validation loss")
    p.add_argument("--lr", type=positive(10.0), default=d.lr,
                   help=f"Adam learning rate (default {d.lr:g}; DSM 1e-5 for vgg16)")
    p.add_argument("--batch-size", type=count(2, MAX_BATCH_SIZE), default=d.batch_size)
    p.add_argument("--seed", type=SEED, default=0)
    p.add_argument("--device", default="auto", help="auto | cpu | cuda")
    p.add_argument("--resume", action="store_true", help="continue from OUT.ckpt")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.set_defaults(func=run_twin)


def _teacher_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("teacher", help="train the synthetic world's ground-level teacher CNN")
    p.add_argument("labels", help="xview synth's labels.npz (true labels and photo paths)")
    p.add_argument("-o", "--out", required=True, help="teacher file to write (.safetensors)")
    sizes = {"epochs": (12, 1, MAX_EPOCHS), "height": (32, 8, MAX_TILE_PX), "width": (128, 8, MAX_TILE_PX),
             "channels": (16, 1, 1024), "depth": (4, 1, 16), "seed": (0, 0, MAX_SEED)}
    for name, (default, low, high) in sizes.items():
        p.add_argument(f"--{name}", type=count(low, high), default=default, help=f"(default {default})")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output")
    p.set_defaults(func=run_teacher)


def _options(items: list[str]) -> dict[str, int]:
    from xview_engine.errors import TrainingError

    options = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            options[key.strip()] = check_count(f"--backbone-option {key.strip()}=", int(value), 0, MAX_WIDTH,
                                               TrainingError)
        except ValueError:
            raise TrainingError(f"--backbone-option '{item}' must be KEY=INTEGER, e.g. width=16") from None
    return options


def _time_features(text: str | None) -> tuple[str, ...]:
    from xview_engine.errors import TrainingError
    from xview_engine.model.time_features import TIME_FEATURES

    names = tuple(part.strip() for part in (text or "").split(",") if part.strip())
    unknown = [n for n in names if n not in TIME_FEATURES]
    if unknown or len(set(names)) != len(names):
        raise TrainingError(f"--time-features {text!r}: name distinct cycles among {', '.join(TIME_FEATURES)}")
    return names


def run_distill(args: argparse.Namespace) -> int:
    import time

    from xview_engine.model.device import describe_device, resolve_device
    from xview_engine.progress import TerminalProgress
    from xview_engine.training.distill import DistillParams
    from xview_engine.training.evaluate import format_report
    from xview_engine.training.run import distill_from_files

    device = resolve_device(args.device)
    params = DistillParams(
        backbone=args.backbone, backbone_options=_options(args.backbone_option), backbone_weights=args.backbone_weights,
        tile_px=args.tile_px, gsd_m=args.gsd, hidden=args.hidden, baseline=args.baseline,
        epochs_pretrain=args.epochs_pretrain, epochs_heads=args.epochs_heads, lr=args.lr,
        weight_decay=args.weight_decay, batch_size=args.batch_size, flips=not args.no_flips, rot90=args.rot90,
        seed=args.seed, time_features=_time_features(args.time_features))
    print(f"training on {describe_device(device)}")
    bar = TerminalProgress("epoch", unit="batches")

    def on_step(done: int, total: int, loss: float) -> None:
        bar.label = f"epoch {len(rows) + 1} loss {loss:8.4f}"
        bar(done, total)

    rows: list[dict] = []

    def on_epoch(row: dict) -> None:
        rows.append(row)
        bar.start = time.perf_counter()
        print(f"epoch {row['epoch']} (stage {row['stage']}): train {row['train_loss']:.4f}, "
              f"validation {row['val_loss']:.4f}")

    heads = tuple(h.strip() for h in args.heads.split(",")) if args.heads else None
    result, report = distill_from_files(
        args.pairs, args.labels, args.out, params, raster=args.raster, heads=heads, device=device,
        resume=args.resume, overwrite=args.overwrite, progress=TerminalProgress("tiles"), on_step=on_step,
        on_epoch=on_epoch)
    print(f"wrote {result.model_path} (best epoch {result.best_epoch}), {result.log_csv}, {result.loss_png}")
    for line in format_report(report):
        print(line)
    return 0


def run_siamese(args: argparse.Namespace) -> int:
    from xview_engine.errors import TrainingError
    from xview_engine.model.device import describe_device, resolve_device
    from xview_engine.progress import TerminalProgress
    from xview_engine.training.siamese import SiameseParams, train_siamese

    try:
        height, width = (check_count("--photo-px", int(v), 8, MAX_TILE_PX, TrainingError)
                         for v in args.photo_px.split(","))
    except ValueError:
        raise TrainingError(f"--photo-px '{args.photo_px}' must be HEIGHT,WIDTH, e.g. 128,256") from None
    device = resolve_device(args.device)
    params = SiameseParams(
        backbone=args.backbone, backbone_options=_options(args.backbone_option), backbone_weights=args.backbone_weights,
        domain_specific=args.domain_specific, dim=args.dim, tile_px=args.tile_px, gsd_m=args.gsd,
        photo_px=(height, width), margin=args.margin, negatives=args.negatives, min_distance_m=args.min_distance_m,
        epochs=args.epochs, lr=args.lr, weight_decay=args.weight_decay, batch_size=args.batch_size,
        flips=not args.no_flips, seed=args.seed)
    print(f"training on {describe_device(device)}")
    result = train_siamese(
        args.pairs, args.raster, args.out, params, device, resume=args.resume, overwrite=args.overwrite,
        progress=TerminalProgress("tiles"),
        on_epoch=lambda r: print(f"epoch {r['epoch']}: train {r['train_loss']:.4f}, validation {r['val_loss']:.4f} "
                                 f"(distance matched {r['val_matched_distance']:.3f}, "
                                 f"unmatched {r['val_unmatched_distance']:.3f})"))
    c = result.calibration
    print(f"wrote {result.model_path} (best epoch {result.best_epoch}; P(same place) = "
          f"1 / (1 + exp(-({c['intercept']:.3f} {c['slope']:+.3f} d)))), {result.log_csv}, {result.loss_png}")
    return 0


def run_twin(args: argparse.Namespace) -> int:
    from xview_engine.errors import TrainingError
    from xview_engine.model.device import describe_device, resolve_device
    from xview_engine.model.twin import MAX_PANORAMA_PX
    from xview_engine.progress import TerminalProgress
    from xview_engine.training.twin import train_twin
    from xview_engine.training.twin_params import TwinParams, parse_fovs

    try:
        polar_h, polar_w = (check_count("--polar", int(v), 1, MAX_PANORAMA_PX) for v in args.polar.split(","))
    except ValueError:
        raise TrainingError(f"--polar '{args.polar}' must be HEIGHT,WIDTH, e.g. 32,128") from None
    fovs, fov_range = parse_fovs(args.fov)
    device = resolve_device(args.device)
    params = TwinParams(branch=args.branch, tile_px=args.tile_px, gsd_m=args.gsd, polar_h=polar_h, polar_w=polar_w,
                        train_fov=fovs, fov_range=fov_range, alpha=args.alpha, epochs=args.epochs,
                        patience=args.patience, lr=args.lr, batch_size=args.batch_size, seed=args.seed,
                        backbone_weights=args.backbone_weights)
    print(f"training on {describe_device(device)}")
    result = train_twin(args.pairs, args.raster, args.out, params, device, resume=args.resume,
                        overwrite=args.overwrite, progress=TerminalProgress("tiles"),
                        on_epoch=lambda r: print(f"epoch {r['epoch']}: train {r['train_loss']:.4f}, "
                                                 f"validation {r['val_loss']:.4f}"))
    print(f"wrote {result['model']} (best epoch {result['best_epoch']} of {result['epochs_run']}), "
          f"{result['log_csv']}, {result['loss_png']}")
    return 0


def run_teacher(args: argparse.Namespace) -> int:
    from xview_engine.progress import TerminalProgress
    from xview_engine.training.run import teacher_from_files
    from xview_engine.training.teacher import TeacherParams

    params = TeacherParams(height=args.height, width=args.width, channels=args.channels, depth=args.depth,
                           epochs=args.epochs, seed=args.seed)
    path, _ = teacher_from_files(
        args.labels, args.out, params, overwrite=args.overwrite, progress=TerminalProgress("photos", unit="photos"),
        on_epoch=lambda r: print(f"epoch {r['epoch']}: train {r['train_loss']:.4f}, validation {r['val_loss']:.4f}"))
    print(f"wrote {path}")
    return 0
