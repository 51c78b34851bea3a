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

// Two kinds of partial runs are timed apart: a window of at most a quarter of the map (its gathering and
// comparing cost more per element), and a larger window of some of the batch's images.
enum class PartialRun { kWindow, kImages };

class WindowPolicy {
 public:
  explicit WindowPolicy(size_t steps = 0) : steps_(steps) {}
  // Whether step s should run on part of its output covering `share` (in (0, 1]) of its elements: yes until
  // a few such runs were timed; then no until a few whole runs were timed too; then when share x (that kind's
  // partial time per share) is below the whole step's time. A kind found not to pay is tried again now and then.
  bool prefer_window(size_t s, double share, PartialRun kind = PartialRun::kWindow);
  // How long a whole run of step s took (the step and the comparison of its outputs with golden).
  void ran_whole(size_t s, double seconds);
  // How long a partial run covering `share` took (restoring its output, the step, the comparison).
  void ran_window(size_t s, double share, double seconds, PartialRun kind = PartialRun::kWindow);

 private:
  struct Partial {
    double per_share = 0;  // mean seconds of a partial run, divided by its share
    int64_t runs = 0, declined = 0;
  };
  struct Step {
    double whole = 0;  // mean seconds of a whole run
    int64_t wholes = 0;
    Partial partial[2];  // by PartialRun
  };
  static constexpr int64_t kLearnRuns = 3;     // runs of each kind timed before the choice is made
  static constexpr int64_t kRetryEvery = 32;   // a declined kind runs partially again every this often
  static void add(double& mean, int64_t& count, double sample);
  Step& step(size_t s);  // created on first use
  std::vector<Step> steps_;
};

}  // namespace faultline
