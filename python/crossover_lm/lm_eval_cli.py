"""``crossover-lm-eval``: lm-eval's command line with the model ``crossover`` registered.

lm-eval finds models only among its own modules (no entry points), so this imports
crossover_lm.lm_eval_model (which registers "crossover") and then runs lm-eval's CLI with the
same arguments. The bundled tasks (crossover_lm/tasks: kjv_cloze, kjv_cloze_mmlu) are added to
--include_path.
"""
import sys
from pathlib import Path

TASKS = Path(__file__).resolve().parent / "tasks"


def main():
    # lm-eval loads its own models (hf, vllm, dummy, ...) only while its registry is empty:
    # registering crossover first would hide them.
    import lm_eval.models  # noqa: F401
    import crossover_lm.lm_eval_model  # noqa: F401  registers --model crossover
    from lm_eval.__main__ import cli_evaluate

    argv = sys.argv[1:]
    if argv and argv[0] not in ("ls", "validate", "-h", "--help") and "--include_path" not in argv:
        sys.argv += ["--include_path", str(TASKS)]
    cli_evaluate()


if __name__ == "__main__":
    main()
