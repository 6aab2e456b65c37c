"""Finding and running the ``crossover`` binary."""
import os
import shutil
import subprocess
from pathlib import Path


def crossover_binary(explicit=None):
    """The crossover executable: ``explicit``, else $CROSSOVER, else ``crossover`` on PATH."""
    for candidate in (explicit, os.environ.get("CROSSOVER")):
        if candidate:
            if not Path(candidate).is_file():
                raise FileNotFoundError(f"crossover binary {candidate} not found")
            return str(candidate)
    found = shutil.which("crossover")
    if not found:
        raise FileNotFoundError(
            "crossover binary not found: pass crossover=PATH in --model_args, set $CROSSOVER, "
            "or put build/crossover on PATH")
    return found


def run(binary, args):
    """Runs ``crossover ARGS``; its log goes to our stderr, its stdout is returned."""
    r = subprocess.run([binary, *map(str, args)], stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"crossover {' '.join(map(str, args[:2]))} failed (exit {r.returncode})")
    return r.stdout


def run_dir_of_checkpoint(checkpoint):
    """The run directory holding a checkpoint directory (the one with config.yaml)."""
    p = Path(checkpoint).resolve()
    for parent in [p, *p.parents]:
        if (parent / "config.yaml").is_file():
            return parent
    raise FileNotFoundError(f"no run directory (config.yaml) above checkpoint {checkpoint}")


def run_objective(run_dir):
    """objective.type of a run (from its config.yaml), 'ar' or 'mdm'."""
    import yaml

    with open(Path(run_dir) / "config.yaml") as f:
        config = yaml.safe_load(f)
    return str(config.get("objective", {}).get("type", "ar"))
