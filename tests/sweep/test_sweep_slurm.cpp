// The sbatch array script: its directives, and its requeue logic run for real with stand-ins
// for srun and scontrol and a fake trainer.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "crossover/sweep/slurm.h"
#include "sweep/sweep_fixture.h"

namespace crossover {
namespace {

namespace fs = std::filesystem;

const char* kFour = "base: base.yaml\ntotal_tokens: 1M\n"
                    "axes: {objective.type: [ar, mdm], data.unique_tokens: [100k, 1M]}\n";

bool contains(const std::string& s, const std::string& what) {
  return s.find(what) != std::string::npos;
}

TEST(SweepSlurm, ArrayOfUnfinishedPointsWithRequeueDirectives) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  testing::append_event(m.points[2].run_dir, testing::end_event("finished", 10));
  SlurmOptions o;
  o.binary = "/opt/crossover/bin/crossover";
  o.partition = "gpu";
  o.time = "48:00:00";
  o.gpus_per_node = 8;
  o.max_running = 2;
  o.setup = {"module load cuda"};
  o.sbatch = {"--constraint=h100"};
  const std::string s = slurm_script(m, o);
  EXPECT_TRUE(contains(s, "#SBATCH --array=0-1,3%2\n")) << s;  // point 2 is finished
  EXPECT_TRUE(contains(s, "#SBATCH --requeue\n"));
  EXPECT_TRUE(contains(s, "#SBATCH --open-mode=append\n"));
  EXPECT_TRUE(contains(s, "#SBATCH --signal=B:TERM@120\n"));
  EXPECT_TRUE(contains(s, "#SBATCH --partition=gpu\n"));
  EXPECT_TRUE(contains(s, "#SBATCH --time=48:00:00\n"));
  EXPECT_TRUE(contains(s, "#SBATCH --ntasks-per-node=8\n#SBATCH --gpus-per-node=8\n"));
  EXPECT_TRUE(contains(s, "#SBATCH --constraint=h100\n"));
  EXPECT_TRUE(contains(s, "#SBATCH --output=" + m.dir + "/slurm/%A_%a.out\n"));
  // Every point is listed at its manifest index, so array index -> point.
  EXPECT_TRUE(
      contains(s, "  'ar-u100k'  # 0\n  'ar-u1M'  # 1\n  'mdm-u100k'  # 2\n  'mdm-u1M'  # 3\n"))
      << s;
  EXPECT_TRUE(contains(s, "CROSSOVER='/opt/crossover/bin/crossover'"));
  EXPECT_TRUE(contains(s, "module load cuda\n"));
  // The task signals its step's trainers through slurmctld, never srun (which would kill them),
  // and requeues itself by ARRAY_TASK: SLURM_JOB_ID of an array's first task is the array's.
  EXPECT_TRUE(contains(s, "JOB=\"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n")) << s;
  EXPECT_TRUE(contains(s, "scancel --signal=\"$1\" \"$JOB\"\n"));
  EXPECT_TRUE(contains(s, "scontrol requeue \"$JOB\""));
  EXPECT_FALSE(contains(s, "requeue \"$SLURM_JOB_ID\""));
  EXPECT_FALSE(contains(s, "kill -\"$1\""));
  EXPECT_TRUE(contains(s, "cd '" + f.dir.path().string() + "'"));
  // Valid bash.
  testing::write_file(f.dir / "s.sbatch", s);
  const auto syntax = testing::run_command("bash -n " + (f.dir / "s.sbatch"));
  EXPECT_EQ(syntax.exit_code, 0) << syntax.output;

  o.include_finished = true;
  EXPECT_TRUE(contains(slurm_script(m, o), "#SBATCH --array=0-3%2\n"));
  o.time = "two days";
  EXPECT_THROW(slurm_script(m, o), std::invalid_argument);
  EXPECT_EQ(array_ranges({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
}

// Stand-ins that behave as SLURM's tools do where it matters: srun runs its command as the
// step's task and answers SIGTERM by killing it (as the real srun does: "forcing job
// termination"); squeue lists the step of the job it is asked about; scancel --signal JOB
// signals the job's step (not its batch shell); scontrol records the requeue.
void write_slurm_tools(const testing::TempDir& dir) {
  fs::create_directories(dir.path() / "bin");
  testing::write_file(dir / "bin/srun", R"sh(#!/bin/bash
while [ "${1#--}" != "$1" ]; do shift; done
"$@" &
task=$!
echo "$task" > "$STEP_PID"
trap 'echo "srun: forcing job termination" >&2; kill -KILL $task' TERM INT
while kill -0 $task 2>/dev/null; do wait $task; done
wait $task
)sh");
  testing::write_file(dir / "bin/squeue", R"sh(#!/bin/sh
for a in "$@"; do case "$a" in --jobs=*) job=${a#--jobs=} ;; esac; done
[ -f "$STEP_PID" ] && kill -0 "$(cat "$STEP_PID")" 2>/dev/null && echo "$job.0"
echo "$job.batch"
)sh");
  testing::write_file(dir / "bin/scancel", R"sh(#!/bin/sh
echo "$@" >> "$SLURM_LOG"
[ "$2" = "${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}" ] && kill -"${1#--signal=}" "$(cat "$STEP_PID")"
)sh");
  testing::write_file(dir / "bin/scontrol", "#!/bin/sh\necho \"$@\" >> \"$SLURM_LOG\"\n");
  for (const char* t : {"bin/srun", "bin/squeue", "bin/scancel", "bin/scontrol"})
    fs::permissions(dir / t, fs::perms::owner_all);
}

// The trainer's part: blocked by out/block, SIGTERM records an interrupted end and exits 143
// (after its checkpoint); unblocked, it finishes.
const char* kFakeTrainer = R"(#!/bin/sh
run_dir="$4"
if [ -f "$run_dir/../../block" ]; then
  trap 'echo "{\"kind\":\"end\",\"status\":\"interrupted\",\"reason\":\"signal\"}" >> "$run_dir/metrics.jsonl"; exit 143' TERM
  touch "$run_dir/started"
  i=0; while [ $i -lt 2400 ]; do sleep 0.05; i=$((i + 1)); done; exit 3  # bounded: never left behind
fi
echo '{"kind":"end","status":"finished","reason":"done","step":10}' >> "$run_dir/metrics.jsonl"
)";

// An array task of the sweep, run in the background as sbatch would, with the stand-ins.
// SLURM_JOB_ID differs from the array's id, as it does for every task but one.
struct Task {
  Task(testing::SweepFixture& f, const Manifest& m) : f(f) {
    write_slurm_tools(f.dir);
    testing::write_file(f.dir / "fake.sh", kFakeTrainer);
    fs::permissions(f.dir / "fake.sh", fs::perms::owner_all);
    SlurmOptions o;
    o.binary = f.dir / "fake.sh";
    testing::write_file(f.dir / "task.sh", slurm_script(m, o));
    env = "PATH=" + (f.dir / "bin") + ":$PATH SLURM_LOG=" + (f.dir / "slurm.log") +
          " STEP_PID=" + (f.dir / "step.pid") +
          " SLURM_JOB_ID=78 SLURM_ARRAY_JOB_ID=77 SLURM_ARRAY_TASK_ID=1 ";
  }
  // Starts the task and waits until its trainer runs (blocked by out/block).
  bool start(const std::string& run_dir) {
    testing::write_file(f.dir / "out/block", "");
    fs::remove(f.dir / "task.rc");
    fs::remove(run_dir + "/started");
    fs::remove(f.dir / "step.pid");
    testing::run_command("sh -c '" + env + "bash " + (f.dir / "task.sh") + " > " +
                         (f.dir / "task.out") + " 2>&1 & echo $! > " + (f.dir / "task.pid") +
                         "; wait $!; echo $? > " + (f.dir / "task.rc") + "' > /dev/null 2>&1 &");
    for (int i = 0; i < 2000; ++i) {
      const bool step = fs::exists(f.dir / "step.pid") &&
                        contains(testing::read_file(f.dir / "step.pid"), "\n");
      if (step && fs::exists(run_dir + "/started")) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  // The task's exit status once the shell has written it whole (the file exists a moment
  // before its line does).
  std::string wait_rc() {
    std::string rc;
    for (int i = 0; i < 2000; ++i) {
      if (fs::exists(f.dir / "task.rc")) rc = testing::read_file(f.dir / "task.rc");
      if (!rc.empty() && rc.back() == '\n') break;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return rc;
  }
  std::string out() { return testing::read_file(f.dir / "task.out"); }
  std::string slurm_log() { return testing::read_file(f.dir / "slurm.log"); }

  testing::SweepFixture& f;
  std::string env;
};

TEST(SweepSlurm, TheTaskRequeuesItselfOnTheTimeLimitSignalAndSkipsFinishedPoints) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  Task task(f, m);
  const std::string run = m.points[1].run_dir;

  // Time limit: SIGTERM to the batch shell alone -> one SIGTERM to the step's task through
  // scancel (srun untouched) -> the trainer checkpoints -> the task requeues its array task.
  ASSERT_TRUE(task.start(run)) << task.out();
  ::kill(std::stoi(testing::read_file(f.dir / "task.pid")), SIGTERM);
  EXPECT_EQ(task.wait_rc(), "0\n") << task.out();
  EXPECT_EQ(task.slurm_log(), "--signal=TERM 77_1\nrequeue 77_1\n") << task.out();
  EXPECT_FALSE(contains(task.out(), "forcing job termination")) << task.out();
  EXPECT_TRUE(contains(testing::read_file(run + "/metrics.jsonl"), "\"interrupted\""));

  // The requeued task resumes and finishes; once more, it exits at once.
  fs::remove(f.dir / "out/block");
  auto r = testing::run_command(task.env + "bash " + (f.dir / "task.sh"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "point ar-u1M finished")) << r.output;
  r = testing::run_command(task.env + "bash " + (f.dir / "task.sh"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "point ar-u1M is finished")) << r.output;
  EXPECT_EQ(task.slurm_log(), "--signal=TERM 77_1\nrequeue 77_1\n");  // no new requeue
}

TEST(SweepSlurm, ATrainerStoppedByTheSchedulersOwnSignalIsRequeuedAndAFailureIsNot) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  Task task(f, m);
  const std::string run = m.points[1].run_dir;

  // A preemption that signals the step's tasks, not the batch shell: the trainer exits 143.
  ASSERT_TRUE(task.start(run)) << task.out();
  ::kill(std::stoi(testing::read_file(f.dir / "step.pid")), SIGTERM);
  EXPECT_EQ(task.wait_rc(), "0\n") << task.out();
  EXPECT_EQ(task.slurm_log(), "requeue 77_1\n") << task.out();

  // A trainer that fails (here killed outright) is not requeued; the task fails with it.
  ASSERT_TRUE(task.start(run)) << task.out();
  ::kill(std::stoi(testing::read_file(f.dir / "step.pid")), SIGKILL);
  EXPECT_EQ(task.wait_rc(), "137\n") << task.out();
  EXPECT_TRUE(contains(task.out(), "failed with exit status 137")) << task.out();
  EXPECT_EQ(task.slurm_log(), "requeue 77_1\n");
}

}  // namespace
}  // namespace crossover
