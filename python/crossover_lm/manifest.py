"""The points of a sweep directory, as `crossover sweep plan` writes them in manifest.json."""
import json
from pathlib import Path


def sweep_points(sweep_dir):
    """[(run_dir, point)] in manifest order; run_dir resolved against the sweep directory."""
    sweep_dir = Path(sweep_dir)
    path = sweep_dir / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no manifest (plan the sweep with `crossover sweep plan`)")
    manifest = json.loads(path.read_text())
    if not isinstance(manifest.get("points"), list):
        raise ValueError(f"{path}: no \"points\" list")
    return [(sweep_dir / point["run_dir"], point) for point in manifest["points"]]
