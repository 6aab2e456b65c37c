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

const char* kFour =
    "base: base.yaml\ntotal_tokens: 1M\n"
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
  EXPECT_TRUE(contains(s, "  'ar-u100k'  # 0\n  'ar-u1M'  # 1\n  'mdm-u100k'  # 2\n  'mdm-u1M'  # 3\n"))
      << s;
  EXPECT_TRUE(contains(s, "CROSSOVER='/opt/crossover/bin/crossover'"));
  EXPECT_TRUE(contains(s, "module load cuda\n"));
  EXPECT_TRUE(contains(s, "scontrol requeue \"$SLURM_JOB_ID\""));
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

// Stand-ins: srun runs its command; scontrol records the requeue.
void write_slurm_tools(const testing::TempDir& dir) {
  fs::create_directories(dir.path() / "bin");
  testing::write_file(dir / "bin/srun",
                      "#!/bin/sh\nwhile [ \"${1#--}\" != \"$1\" ]; do shift; done\nexec \"$@\"\n");
  testing::write_file(dir / "bin/scontrol", "#!/bin/sh\necho \"$@\" >> \"$SCONTROL_LOG\"\n");
  for (const char* t : {"bin/srun", "bin/scontrol"})
    fs::permissions(dir / t, fs::perms::owner_all);
}

const char* kFakeTrainer = R"(#!/bin/sh
run_dir="$4"
if [ -f "$run_dir/../../block" ]; then
  trap 'echo "{\"kind\":\"end\",\"status\":\"interrupted\",\"reason\":\"signal\"}" >> "$run_dir/metrics.jsonl"; exit 143' TERM
  touch "$run_dir/started"
  while :; do sleep 0.05; done
fi
echo '{"kind":"end","status":"finished","reason":"done","step":10}' >> "$run_dir/metrics.jsonl"
)";

TEST(SweepSlurm, TheTaskRequeuesItselfOnTheTimeLimitSignalAndSkipsFinishedPoints) {
  testing::SweepFixture f;
  const Manifest m = f.plan_dir(kFour);
  write_slurm_tools(f.dir);
  testing::write_file(f.dir / "fake.sh", kFakeTrainer);
  fs::permissions(f.dir / "fake.sh", fs::perms::owner_all);
  SlurmOptions o;
  o.binary = f.dir / "fake.sh";
  testing::write_file(f.dir / "task.sh", slurm_script(m, o));
  const std::string env = "PATH=" + (f.dir / "bin") + ":$PATH SCONTROL_LOG=" +
                          (f.dir / "scontrol.log") + " SLURM_JOB_ID=77 SLURM_ARRAY_TASK_ID=1 ";
  const std::string run = m.points[1].run_dir;

  // Time limit: SIGTERM to the batch shell -> the trainer checkpoints -> the task requeues.
  testing::write_file(f.dir / "out/block", "");
  testing::run_command("sh -c '" + env + "bash " + (f.dir / "task.sh") + " > " + (f.dir / "task.out") +
                       " 2>&1 & echo $! > " + (f.dir / "task.pid") + "; wait; echo $? > " +
                       (f.dir / "task.rc") + "' > /dev/null 2>&1 &");
  bool started = false;
  for (int i = 0; i < 2000 && !started; ++i) {
    started = fs::exists(run + "/started");
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(started) << testing::read_file(f.dir / "task.out");
  ::kill(std::stoi(testing::read_file(f.dir / "task.pid")), SIGTERM);
  for (int i = 0; i < 2000 && !fs::exists(f.dir / "task.rc"); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  const std::string out = testing::read_file(f.dir / "task.out");
  EXPECT_EQ(testing::read_file(f.dir / "task.rc"), "0\n") << out;
  EXPECT_EQ(testing::read_file(f.dir / "scontrol.log"), "requeue 77\n") << out;
  EXPECT_TRUE(contains(testing::read_file(run + "/metrics.jsonl"), "\"interrupted\""));

  // The requeued task resumes and finishes; once more, it exits at once.
  fs::remove(f.dir / "out/block");
  auto r = testing::run_command(env + "bash " + (f.dir / "task.sh"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "point ar-u1M finished")) << r.output;
  r = testing::run_command(env + "bash " + (f.dir / "task.sh"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(contains(r.output, "point ar-u1M is finished")) << r.output;
  EXPECT_EQ(testing::read_file(f.dir / "scontrol.log"), "requeue 77\n");  // no new requeue
}

}  // namespace
}  // namespace crossover
