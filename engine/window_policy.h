// When window re-execution pays (engine/incremental_executor.h): learned per step from how long its whole
// runs and its window runs took. A window run restores, gathers, scatters and compares the window's bytes
// besides computing it, which costs more per element than a whole run; how much more depends on the model
// (on the peer's ResNet20 windows of up to a quarter of a map pay; on a small DenseNet most did not, and the
// campaign ran 10-25 % slower with windows than without). The choice never changes a result, only the time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace faultline {

class WindowPolicy {
 public:
  explicit WindowPolicy(size_t steps = 0) : steps_(steps) {}
  // Whether step s should run on a window covering `share` (in (0, 1]) of its output's rows x columns: yes
  // until both kinds of run were timed a few times, then when share x (window time per share) is below the
  // whole step's time; a step found not to pay is tried on a window again now and then.
  bool prefer_window(size_t s, double share);
  // How long a whole run of step s took (the step and the comparison of its outputs with golden).
  void ran_whole(size_t s, double seconds);
  // How long a window run covering `share` took (restoring its output, the step, the comparison).
  void ran_window(size_t s, double share, double seconds);

 private:
  struct Step {
    double whole = 0;      // mean seconds of a whole run
    double per_share = 0;  // mean seconds of a window run, divided by its share
    int64_t wholes = 0, windows = 0, declined = 0;
  };
  static constexpr int64_t kLearnRuns = 3;     // runs of each kind timed before the choice is made
  static constexpr int64_t kRetryEvery = 32;   // a declined step runs on its window again every this often
  static void add(double& mean, int64_t& count, double sample);
  Step& step(size_t s);  // created on first use
  std::vector<Step> steps_;
};

}  // namespace faultline
