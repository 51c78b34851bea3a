// When window re-execution pays (engine/incremental_executor.h): learned per step from how long its whole
// runs and its partial runs took. A partial run restores, gathers, scatters and compares the window's bytes
// besides computing it, and pays a fixed cost per call (the crop primitive's launch, the thread team), so its
// time is modelled as fixed + per_share x share, fitted to the timed runs of each step and kind: a model
// proportional to the share alone, learned from tiny windows, priced every larger window at many times its
// cost (on the peer's ResNet20 neuron list 456 convolution runs below a tenth of their step then ran whole,
// and BatchNorm chains ran whole at shares of 0.3-0.9; the list took 6.5-7.5 s, 6.0-7.3 s fitted). How much a
// partial run costs depends on the model (on the peer's ResNet20 windows of up to a quarter of a map pay; on
// a small DenseNet most did not). The choice never changes a result, only the time.
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
  // a few such runs were timed; then no until a few whole runs were timed too; then when the kind's fitted
  // time at `share` is below the whole step's time. A kind found not to pay is tried again now and then.
  bool prefer_window(size_t s, double share, PartialRun kind = PartialRun::kWindow);
  // How long a whole run of step s took (the step and the comparison of its outputs with golden).
  void ran_whole(size_t s, double seconds);
  // How long a partial run covering `share` took (restoring its output, the step, the comparison).
  void ran_window(size_t s, double share, double seconds, PartialRun kind = PartialRun::kWindow);
  // The fitted seconds of a partial run of step s covering `share` (for tests; 0 before any was timed).
  double expected_partial(size_t s, double share, PartialRun kind = PartialRun::kWindow);

 private:
  // Weighted sums over a kind's timed runs (share x, seconds t) for a least-squares fit t = fixed + slope x;
  // older runs weigh less and less, so that the fit follows a machine's changing load.
  struct Partial {
    double n = 0, x = 0, xx = 0, t = 0, xt = 0;
    int64_t runs = 0, declined = 0;
    double expected(double share) const;
  };
  struct Step {
    double whole = 0;  // mean seconds of a whole run
    int64_t wholes = 0;
    Partial partial[2];  // by PartialRun
  };
  static constexpr int64_t kLearnRuns = 3;     // runs of each kind timed before the choice is made
  static constexpr int64_t kRetryEvery = 32;   // a declined kind runs partially again every this often
  static constexpr double kForget = 1.0 / 16;  // the weight older partial runs lose at each new one
  static void add(double& mean, int64_t& count, double sample);
  Step& step(size_t s);  // created on first use
  std::vector<Step> steps_;
};

}  // namespace faultline
