// The fault matrix: every fault model x data type x target that faultline supports has a test here, on every
// CPU backend, against an expectation computed independently in this file (its own bit manipulation, its own
// float16/bfloat16/int8 encoding and decoding, its own convolution loop):
//
//   weight      x {float32, float16, bfloat16, int8} (SessionOptions::weight_dtype) x every model
//   activation  x float32                                                           x every model
//   input       x float32 (two sites: a Concat's operand, a Conv's graph input)     x every model
//
// Activations and inputs are float32 whatever the weights are stored as (engine/session.h): the other
// (target, dtype) cells are not reachable through a model, and arming one by hand is refused with a message;
// MatrixRefusals lists those and every other combination faultline refuses, each with its reason.
//
// The model: x [N, 1, 3, 3] -> conv (W [2, 1, 2, 2], no bias) = c [N, 2, 2, 2];
//            c -> cat slot 0;  c -> scale (Mul by the constant 2) = m -> cat slot 1;  out = cat [N, 4, 2, 2].
// No Relu anywhere (it would hide negative changes). An activation fault on c reaches both halves of out, an
// input fault on cat:0 only the first half (the scale branch reads c as computed), an input fault on conv:0
// (the graph input x) goes through the convolution.
//
// Reference backend: compared bit-exactly (the hand loop sums in the reference kernel's order: float32, taps in
// row-major order, no bias). oneDNN: within 1e-6 of max(|expected|, sum of |products|), the bound a reordered
// float32 sum of four products meets; the Concat half that copies a faulted word of c is compared bit-exactly
// with the same fault applied to the golden run's word. Every case also checks: the golden run equals the hand
// computation, the fault is not masked (the expectation differs from golden, except ber p = 0), the injector
// restores every weight bit-exactly, a fault-free run afterwards is bit-identical to golden, and replay_faults
// (the public path) gives bit-for-bit the same output as the injector driven by hand.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/session.h"
#include "faults/bit_ops.h"
#include "faults/fault_injector.h"
#include "faults/fault_list.h"
#include "faults/fault_replay.h"
#include "faults/fault_targets.h"
#include "tests/support/graph_builder.h"

namespace faultline {
namespace {

using testing::GraphBuilder;

// ---- the model ---------------------------------------------------------------------------------------------
constexpr int64_t kImages = 3;  // run in batches of 2 and 1: the last batch runs on a second compiled model
constexpr int64_t kBatch = 2;
constexpr int kSide = 3;        // x is [N, 1, 3, 3]
constexpr int kOutChannels = 2;
constexpr int kKernel = 2;      // W is [2, 1, 2, 2]
constexpr int kOutSide = kSide - kKernel + 1;           // 2
constexpr int kXElements = kSide * kSide;               // 9 per image
constexpr int kWElements = kOutChannels * kKernel * kKernel;    // 8
constexpr int kCElements = kOutChannels * kOutSide * kOutSide;  // 8 per image
constexpr int kOutElements = 2 * kCElements;                    // 16 per image
constexpr int64_t kInjection = 5;

// Dyadic values, exact in float16 and bfloat16; w * 127 is never a tie, so the int8 words are unambiguous.
// Flat index 6 = (1, 0, 1, 0) is 0.25, the faulted weight.
const std::vector<float> kWeights = {0.75f, -0.25f, 0.375f, 1.0f, -0.625f, 0.125f, 0.25f, -0.875f};
constexpr int kWeightElement = 6;
const char* const kWeightIndex = "(1, 0, 1, 0)";
const std::vector<float> kImagesData = {
    0.5f,   1.0f, -0.75f, 1.25f, -0.5f, 0.25f,  0.75f, 1.5f, -1.0f,   // image 0
    -0.25f, 0.5f, 1.5f,   0.75f, 1.0f,  -1.25f, 0.5f,  -0.5f, 2.0f,  // image 1
    1.0f,   -0.5f, 0.25f, -1.5f, 0.75f, 0.5f,   1.25f, 1.0f, -0.75f,  // image 2
};
constexpr int kActivationElement = 5;  // (1, 0, 1) of c
const char* const kActivationIndex = "(1, 0, 1)";
constexpr int kInputElement = 5;  // (0, 1, 2) of x
const char* const kInputIndex = "(0, 1, 2)";

std::shared_ptr<const Graph> matrix_model() {
  GraphBuilder b;
  const ValueId x = b.input("x", {kDynamicDim, 1, kSide, kSide});
  const ValueId c = b.node(OpKind::kConv, {x, b.constant("conv.weight", Tensor::from_floats({2, 1, 2, 2}, kWeights))},
                           ConvAttrs{{kKernel, kKernel}}, "conv", "c");
  const ValueId two = b.constant("two", Tensor::from_floats({1}, {2.0f}), /*is_parameter=*/false);
  const ValueId m = b.node(OpKind::kMul, {c, two}, {}, "scale", "m");
  b.output(b.node(OpKind::kConcat, {c, m}, ConcatAttrs{1}, "cat", "out"));
  return std::make_shared<const Graph>(b.build());
}

Tensor matrix_input() {
  return Tensor::from_floats({kImages, 1, kSide, kSide}, kImagesData);
}

// ---- the matrix --------------------------------------------------------------------------------------------
enum class Site { kWeight, kActivation, kInputCat, kInputConv };

std::string site_label(Site site) {
  switch (site) {
    case Site::kWeight: return "weight";
    case Site::kActivation: return "activation";
    case Site::kInputCat: return "input_cat0";
    case Site::kInputConv: return "input_conv0";
  }
  return "?";
}

struct MatrixCase {
  std::string backend;
  Site site;
  DType storage;  // the stored dtype of the faulted word
  FaultModel model;
};

void PrintTo(const MatrixCase& c, std::ostream* os) {
  *os << c.backend << " " << site_label(c.site) << " " << dtype_name(c.storage) << " " << fault_model_name(c.model);
}

const FaultModel kAllModels[] = {FaultModel::kBitFlip,  FaultModel::kMultiBitFlip, FaultModel::kStuckAt0,
                                 FaultModel::kStuckAt1, FaultModel::kZero,         FaultModel::kValue,
                                 FaultModel::kRandomValue, FaultModel::kBitErrorRate};
static_assert(std::size(kAllModels) == kFaultModelCount, "a fault model is missing from the matrix");

std::vector<MatrixCase> all_cases() {
  std::vector<MatrixCase> cases;
  for (const char* backend : {"reference", "onednn"})
    for (FaultModel model : kAllModels) {
      for (DType dtype : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt8})
        cases.push_back({backend, Site::kWeight, dtype, model});
      for (Site site : {Site::kActivation, Site::kInputCat, Site::kInputConv})
        cases.push_back({backend, site, DType::kFloat32, model});
    }
  return cases;
}

std::string case_name(const ::testing::TestParamInfo<MatrixCase>& info) {
  std::string name = info.param.backend + "_" + site_label(info.param.site) + "_" +
                     std::string(dtype_name(info.param.storage)) + "_" + std::string(fault_model_name(info.param.model));
  for (char& ch : name)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return name;
}

// Per stored dtype: which bits the bit models hit, and the multibit mask, chosen on the faulted weight 0.25
// (float32 0x3e800000, float16 0x3400, bfloat16 0x3e80, int8 q = 32) so that none is masked: the flip is the
// lowest exponent bit (0.125), stuck-at-0 a set exponent bit, stuck-at-1 the clear sign bit.
struct BitChoice {
  int flip, stuck0, stuck1;
  uint64_t mask;
};
BitChoice bits_for(DType dtype) {
  switch (dtype) {
    case DType::kFloat16: return {10, 12, 15, 0x8201};
    case DType::kBFloat16: return {7, 12, 15, 0x8041};
    case DType::kInt8: return {6, 5, 7, 0x81};
    default: return {23, 29, 31, 0x80400001};
  }
}
constexpr double kValue = 3.0;  // the `value` model's value: exact in every dtype
constexpr double kBerRate = 0.5;

int width_of(DType dtype) {
  return dtype == DType::kFloat32 ? 32 : dtype == DType::kInt8 ? 8 : 16;
}
uint64_t all_bits(int width) {
  return width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
}

// ---- words, written here independently of engine/dtype and faults/bit_ops ----------------------------------
uint32_t f32_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u;
}
float f32_from(uint32_t u) {
  float v;
  std::memcpy(&v, &u, 4);
  return v;
}
// Exact values only (the test's weights and 3.0): a normal float32 whose mantissa fits 10 bits.
uint16_t half_encode_exact(float v) {
  const uint32_t u = f32_bits(v);
  const uint32_t sign = u >> 31, exponent = (u >> 23) & 0xff, mantissa = u & 0x7fffff;
  EXPECT_EQ(mantissa & 0x1fff, 0u) << v << " is not exact in float16";
  const int e = static_cast<int>(exponent) - 127 + 15;
  EXPECT_TRUE(e >= 1 && e <= 30) << v << " is not a normal float16";
  return static_cast<uint16_t>((sign << 15) | (static_cast<uint32_t>(e) << 10) | (mantissa >> 13));
}
// binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; subnormals, infinities and NaN included.
float half_decode(uint16_t h) {
  const int sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  double magnitude;
  if (exponent == 0) magnitude = std::ldexp(static_cast<double>(mantissa), -24);  // subnormal: m * 2^-24
  else if (exponent == 31) {
    if (mantissa == 0) magnitude = INFINITY;
    else {  // NaN: keep the payload as the top mantissa bits of a float32 NaN, as a widening conversion does
      return f32_from((static_cast<uint32_t>(sign) << 31) | 0x7f800000u | (static_cast<uint32_t>(mantissa) << 13));
    }
  } else magnitude = std::ldexp(1.0 + mantissa / 1024.0, exponent - 15);
  return static_cast<float>(sign ? -magnitude : magnitude);
}
uint16_t bf16_encode_exact(float v) {
  const uint32_t u = f32_bits(v);
  EXPECT_EQ(u & 0xffff, 0u) << v << " is not exact in bfloat16";
  return static_cast<uint16_t>(u >> 16);
}
float bf16_decode(uint16_t b) {
  return f32_from(static_cast<uint32_t>(b) << 16);
}

// Symmetric per-tensor int8 (engine/weight_storage.h): scale = max|w| / 127, q = round_half_even(w / scale)
// clamped to [-127, 127], decoded as q * scale.
float int8_scale(const std::vector<float>& w) {
  float max_abs = 0.0f;
  for (float v : w) max_abs = std::max(max_abs, std::fabs(v));
  return max_abs > 0.0f ? max_abs / 127.0f : 1.0f;
}

// The stored words of a tensor of `dtype` (one uint64 per element, `width` bits used).
struct Words {
  DType dtype = DType::kFloat32;
  std::vector<uint64_t> words;
  float scale = 1.0f;  // int8 only
};

Words encode(DType dtype, const std::vector<float>& values) {
  Words w{dtype, {}, 1.0f};
  if (dtype == DType::kInt8) w.scale = int8_scale(values);
  for (float v : values) {
    switch (dtype) {
      case DType::kFloat16: w.words.push_back(half_encode_exact(v)); break;
      case DType::kBFloat16: w.words.push_back(bf16_encode_exact(v)); break;
      case DType::kInt8: {
        const float q = std::clamp(std::nearbyint(v / w.scale), -127.0f, 127.0f);
        w.words.push_back(static_cast<uint8_t>(static_cast<int8_t>(q)));
        break;
      }
      default: w.words.push_back(f32_bits(v));
    }
  }
  return w;
}

float decode_word(DType dtype, uint64_t word, float scale) {
  switch (dtype) {
    case DType::kFloat16: return half_decode(static_cast<uint16_t>(word));
    case DType::kBFloat16: return bf16_decode(static_cast<uint16_t>(word));
    case DType::kInt8: return static_cast<float>(static_cast<int8_t>(static_cast<uint8_t>(word))) * scale;
    default: return f32_from(static_cast<uint32_t>(word));
  }
}
std::vector<float> decode(const Words& w) {
  std::vector<float> values;
  for (uint64_t word : w.words) values.push_back(decode_word(w.dtype, word, w.scale));
  return values;
}

// `value` as the stored word (exact values only): int8 stores the integer itself (faults/bit_ops.h: the word
// becomes the value converted to the word's dtype), not value / scale.
uint64_t value_word(DType dtype, double value) {
  switch (dtype) {
    case DType::kFloat16: return half_encode_exact(static_cast<float>(value));
    case DType::kBFloat16: return bf16_encode_exact(static_cast<float>(value));
    case DType::kInt8: return static_cast<uint8_t>(static_cast<int8_t>(value));
    default: return f32_bits(static_cast<float>(value));
  }
}

// The random model's word: the low `width` bits of the first draw of std::mt19937_64(fault_seed(seed,
// injection)) (faults/fault_injector.h: "a fault's random stream").
uint64_t random_word(DType dtype, uint64_t seed) {
  std::mt19937_64 rng(fault_seed(seed, kInjection));
  return rng() & all_bits(width_of(dtype));
}

// One word fault applied by hand.
uint64_t fault_word(DType dtype, FaultModel model, uint64_t word, uint64_t seed) {
  const BitChoice bits = bits_for(dtype);
  const uint64_t all = all_bits(width_of(dtype));
  switch (model) {
    case FaultModel::kBitFlip: return word ^ (uint64_t{1} << bits.flip);
    case FaultModel::kMultiBitFlip: return word ^ bits.mask;
    case FaultModel::kStuckAt0: return word & ~(uint64_t{1} << bits.stuck0) & all;
    case FaultModel::kStuckAt1: return word | (uint64_t{1} << bits.stuck1);
    case FaultModel::kZero: return 0;
    case FaultModel::kValue: return value_word(dtype, kValue);
    case FaultModel::kRandomValue: return random_word(dtype, seed);
    default: ADD_FAILURE() << "not a word model"; return word;
  }
}

// Bytes of the words (little-endian, as stored), and back.
std::vector<std::byte> to_bytes(const Words& w) {
  const int bytes = width_of(w.dtype) / 8;
  std::vector<std::byte> out;
  for (uint64_t word : w.words)
    for (int i = 0; i < bytes; ++i) out.push_back(static_cast<std::byte>((word >> (8 * i)) & 0xff));
  return out;
}
void from_bytes(Words& w, const std::vector<std::byte>& bytes) {
  const int width = width_of(w.dtype) / 8;
  for (size_t e = 0; e < w.words.size(); ++e) {
    uint64_t word = 0;
    for (int i = 0; i < width; ++i) word |= static_cast<uint64_t>(bytes[e * width + i]) << (8 * i);
    w.words[e] = word;
  }
}

// What a fault does to a tensor of words (one image of an activation/input, or a whole weight):
// a word model at `element`; ber with p = 1: every word inverted; p = 0: nothing; other p: the flips that
// flip_bits_with_probability draws with `ber_seed` over the stored bytes (the documented seeding contract;
// faults/bit_ops is tested on its own in test_fault_bit_ops).
void apply_fault(Words& w, FaultModel model, int element, double p, uint64_t seed, uint64_t ber_seed) {
  if (model != FaultModel::kBitErrorRate) {
    w.words[static_cast<size_t>(element)] = fault_word(w.dtype, model, w.words[static_cast<size_t>(element)], seed);
    return;
  }
  const uint64_t all = all_bits(width_of(w.dtype));
  if (p == 1.0) {
    for (uint64_t& word : w.words) word = ~word & all;
  } else if (p != 0.0) {
    std::vector<std::byte> bytes = to_bytes(w);
    auto log = flip_bits_with_probability(bytes, p, ber_seed);
    ASSERT_TRUE(log.is_ok()) << log.status().message();
    from_bytes(w, bytes);
  }
}

// ---- the hand-computed output ------------------------------------------------------------------------------
// conv of one image, summed as the reference kernel sums (float32, taps row-major, from 0.0f); `bound` gets the
// sum of |products| of each output.
void conv_by_hand(const float* x, const std::vector<float>& w, float* c, double* bound) {
  for (int m = 0; m < kOutChannels; ++m)
    for (int oh = 0; oh < kOutSide; ++oh)
      for (int ow = 0; ow < kOutSide; ++ow) {
        float sum = 0.0f;
        double abs_sum = 0.0;
        for (int kh = 0; kh < kKernel; ++kh)
          for (int kw = 0; kw < kKernel; ++kw) {
            const float product = x[(oh + kh) * kSide + (ow + kw)] * w[static_cast<size_t>((m * kKernel + kh) * kKernel + kw)];
            sum += product;
            abs_sum += std::fabs(static_cast<double>(product));
          }
        c[(m * kOutSide + oh) * kOutSide + ow] = sum;
        bound[(m * kOutSide + oh) * kOutSide + ow] = abs_sum;
      }
}

struct Expected {
  std::vector<float> out;     // [N, 4, 2, 2]
  std::vector<double> bound;  // per element: the magnitude a oneDNN tolerance is relative to
};

// The fault: model, stored dtype, seeds, ber rate. `faulted == false` gives the golden output.
struct HandFault {
  Site site = Site::kWeight;
  DType storage = DType::kFloat32;
  FaultModel model = FaultModel::kBitFlip;
  double p = 0.0;
  uint64_t seed = InjectorOptions{}.seed;
};

Expected expected_output(const HandFault& f, bool faulted) {
  Words stored = encode(f.storage, kWeights);
  const uint64_t stream = fault_seed(f.seed, kInjection);
  if (faulted && f.site == Site::kWeight) {
    apply_fault(stored, f.model, kWeightElement, f.p, f.seed, stream);
  }
  const std::vector<float> w = decode(stored);
  Expected e;
  e.out.resize(kImages * kOutElements);
  e.bound.resize(kImages * kOutElements);
  for (int64_t n = 0; n < kImages; ++n) {
    Words x = encode(DType::kFloat32, std::vector<float>(kImagesData.begin() + n * kXElements,
                                                         kImagesData.begin() + (n + 1) * kXElements));
    if (faulted && f.site == Site::kInputConv) apply_fault(x, f.model, kInputElement, f.p, f.seed, image_seed(stream, n));
    const std::vector<float> xf = decode(x);
    float c[kCElements];
    double bound[kCElements];
    conv_by_hand(xf.data(), w, c, bound);
    // The word each consumer reads: cat slot 0 (first half) and scale (second half, times 2).
    Words c_cat = encode(DType::kFloat32, std::vector<float>(c, c + kCElements));
    Words c_scale = c_cat;
    if (faulted && (f.site == Site::kActivation || f.site == Site::kInputCat)) {
      apply_fault(c_cat, f.model, kActivationElement, f.p, f.seed, image_seed(stream, n));
      if (f.site == Site::kActivation) c_scale = c_cat;
    }
    const std::vector<float> cat = decode(c_cat), scaled = decode(c_scale);
    for (int i = 0; i < kCElements; ++i) {
      // A faulted word keeps the conditioning of the word it replaced (the sign, exponent and mantissa bit
      // changes of these models scale a oneDNN rounding difference with the value).
      const double ratio = c[i] != 0.0f && std::isfinite(cat[i]) ? std::fabs(cat[i] / c[i]) : 1.0;
      const double ratio2 = c[i] != 0.0f && std::isfinite(scaled[i]) ? std::fabs(scaled[i] / c[i]) : 1.0;
      e.out[n * kOutElements + i] = cat[i];
      e.out[n * kOutElements + kCElements + i] = 2.0f * scaled[i];
      e.bound[n * kOutElements + i] = std::max(bound[i], bound[i] * ratio);
      e.bound[n * kOutElements + kCElements + i] = 2.0 * std::max(bound[i], bound[i] * ratio2);
    }
  }
  return e;
}

std::string describe_element(int64_t i) {
  const int64_t n = i / kOutElements, rest = i % kOutElements;
  std::ostringstream s;
  s << "out[" << n << ", " << rest / 4 << ", " << (rest % 4) / 2 << ", " << rest % 2 << "]";
  return s.str();
}

// Bit-exact on the reference backend; within 1e-6 of the bound on oneDNN (NaN matches NaN, infinities match
// exactly).
::testing::AssertionResult matches(const Expected& expected, const Tensor& got, const std::string& backend) {
  if (got.dtype() != DType::kFloat32 || got.shape() != Shape{kImages, 2 * kOutChannels, kOutSide, kOutSide})
    return ::testing::AssertionFailure() << "output shape " << shape_to_string(got.shape());
  const float* g = got.data<float>();
  int bad = 0;
  std::ostringstream report;
  for (int64_t i = 0; i < kImages * kOutElements; ++i) {
    const float e = expected.out[static_cast<size_t>(i)], a = g[i];
    bool ok;
    if (backend == "reference") ok = f32_bits(e) == f32_bits(a);
    else if (std::isnan(e) || std::isnan(a)) ok = std::isnan(e) && std::isnan(a);
    else if (std::isinf(e) || std::isinf(a)) ok = e == a;
    else ok = std::fabs(static_cast<double>(e) - a) <= 1e-6 * std::max<double>(std::fabs(e), expected.bound[static_cast<size_t>(i)]);
    if (!ok && ++bad <= 8) {
      report << "\n  " << describe_element(i) << ": expected " << e << " (0x" << std::hex << f32_bits(e) << "), got " << std::dec
             << a << " (0x" << std::hex << f32_bits(a) << std::dec << ")";
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << kImages * kOutElements << " elements differ" << report.str();
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.dtype() == b.dtype() && a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.nbytes()) == 0;
}

// ---- driving faultline --------------------------------------------------------------------------------------
std::string csv_row(Site site, DType storage, FaultModel model, double p) {
  std::string layer, index, target;
  switch (site) {
    case Site::kWeight: layer = "conv", index = kWeightIndex, target = "weight"; break;
    case Site::kActivation: layer = "conv", index = kActivationIndex, target = "activation"; break;
    case Site::kInputCat: layer = "cat", index = kActivationIndex, target = "input"; break;
    case Site::kInputConv: layer = "conv", index = kInputIndex, target = "input"; break;
  }
  const BitChoice bits = bits_for(storage);
  std::string bit, mask, value;
  switch (model) {
    case FaultModel::kBitFlip: bit = std::to_string(bits.flip); break;
    case FaultModel::kStuckAt0: bit = std::to_string(bits.stuck0); break;
    case FaultModel::kStuckAt1: bit = std::to_string(bits.stuck1); break;
    case FaultModel::kMultiBitFlip: mask = mask_to_string(bits.mask); break;
    case FaultModel::kValue: {
      std::ostringstream s;
      s << kValue;
      value = s.str();
      break;
    }
    case FaultModel::kBitErrorRate: {
      std::ostringstream s;
      s << p;
      value = s.str();
      index.clear();
      break;
    }
    default: break;
  }
  return "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value\n" + std::to_string(kInjection) + "," + layer +
         "," + (index.empty() ? "" : "\"" + index + "\"") + "," + bit + "," + target + "," + std::string(fault_model_name(model)) + "," + mask + "," +
         value + "\n";
}

struct Runs {
  Tensor golden, faulted, after, replayed;
  std::string error;  // the first refusal, empty when everything ran
};

SessionOptions session_options(const std::string& backend, DType storage) {
  SessionOptions options;
  options.backend = backend;
  options.batch = kBatch;
  options.propagate_nan = true;
  if (storage != DType::kFloat32) options.weight_dtype = storage;
  return options;
}

// Resolves `csv` on the float32 model's targets, plans a Session as replay_faults does (faulted values
// observable, weights stored as `storage`), arms the fault alone, and runs golden / faulted / fault-free
// again; then replays the same list through replay_faults.
Runs run_fault(const std::string& backend, DType storage, const std::string& csv, InjectorOptions injector_options = {}) {
  Runs runs;
  const auto model = matrix_model();
  const Tensor x = matrix_input();
  auto targets = list_fault_targets(*model);
  if (!targets.is_ok()) return runs.error = "list_fault_targets: " + targets.status().message(), runs;
  auto list = parse_fault_list(csv, "matrix.csv");
  if (!list.is_ok()) return runs.error = list.status().message(), runs;
  auto resolved = resolve_fault_list(*list, *targets);
  if (!resolved.is_ok()) return runs.error = resolved.status().message(), runs;

  SessionOptions options = session_options(backend, storage);
  options.observable = faulted_value_names(*resolved, *targets);
  auto session = Session::create(model, options);
  if (!session.is_ok()) return runs.error = "Session::create: " + session.status().message(), runs;
  // The session's model stores the weights as `storage`: the weight target takes that dtype (its words are
  // what a fault hits), as replay_faults does.
  std::vector<FaultTarget> stored = *targets;
  for (FaultTarget& t : stored) {
    const auto id = (*session)->model().find_value(t.name);
    if (t.kind == TargetKind::kWeight && id && (*session)->model().value(*id).is_parameter)
      t.dtype = (*session)->model().value(*id).dtype;
  }
  for (const FaultTarget& t : stored)
    if (t.name == "conv.weight") EXPECT_EQ(t.dtype, storage) << "the session did not store conv.weight as " << dtype_name(storage);
  const ArmedFault armed = armed_fault(*list, resolved->front(), stored);
  auto injector = FaultInjector::create({&armed, 1}, injector_options);
  if (!injector.is_ok()) return runs.error = "FaultInjector::create: " + injector.status().message(), runs;

  auto golden = (*session)->run({x});
  if (!golden.is_ok()) return runs.error = "golden run: " + golden.status().message(), runs;
  runs.golden = golden->front();
  auto faulted = (*session)->run({x}, &*injector);
  const Status restored = injector->restore();
  if (!faulted.is_ok()) return runs.error = "faulted run: " + faulted.status().message(), runs;
  runs.faulted = faulted->front();
  EXPECT_TRUE(restored.is_ok()) << restored.message();
  const Status check = injector->check_restored();
  EXPECT_TRUE(check.is_ok()) << check.message();
  auto after = (*session)->run({x});
  if (!after.is_ok()) return runs.error = "fault-free run after the fault: " + after.status().message(), runs;
  runs.after = after->front();

  auto replayed = replay_faults(model, session_options(backend, storage), *list, *resolved, *targets, x, injector_options);
  if (!replayed.is_ok()) return runs.error = "replay_faults: " + replayed.status().message(), runs;
  Shape shape(replayed->shape().begin() + 1, replayed->shape().end());
  runs.replayed = Tensor::view(DType::kFloat32, shape, replayed->raw()).clone();
  return runs;
}

// The checks every case makes on one run of one fault.
void check_runs(const Runs& runs, const HandFault& f, const std::string& backend, bool expect_change) {
  ASSERT_TRUE(runs.error.empty()) << runs.error;
  const Expected golden = expected_output(f, /*faulted=*/false);
  const Expected expected = expected_output(f, /*faulted=*/true);
  EXPECT_TRUE(matches(golden, runs.golden, backend)) << "golden run vs the hand computation";
  EXPECT_TRUE(matches(expected, runs.faulted, backend)) << "faulted run vs the hand computation";
  EXPECT_TRUE(bit_identical(runs.golden, runs.after)) << "a fault-free run after the fault differs from golden";
  EXPECT_TRUE(bit_identical(runs.faulted, runs.replayed)) << "replay_faults differs from the injector run by hand";
  bool changed = false;
  for (size_t i = 0; i < expected.out.size(); ++i) changed |= f32_bits(expected.out[i]) != f32_bits(golden.out[i]);
  EXPECT_EQ(changed, expect_change) << (expect_change ? "the fault is masked: the test would prove nothing"
                                                      : "a fault that must change nothing changes the output");
  // The Concat's first half copies the word of c that cat:0 reads: bit-exact on every backend, as the fault
  // applied (by hand) to the golden run's own word.
  if ((f.site == Site::kActivation || f.site == Site::kInputCat) && !runs.golden.empty()) {
    const uint64_t stream = fault_seed(f.seed, kInjection);
    for (int64_t n = 0; n < kImages; ++n) {
      Words word{DType::kFloat32, {}, 1.0f};
      for (int i = 0; i < kCElements; ++i) word.words.push_back(f32_bits(runs.golden.data<float>()[n * kOutElements + i]));
      apply_fault(word, f.model, kActivationElement, f.p, f.seed, image_seed(stream, n));
      for (int i = 0; i < kCElements; ++i)
        EXPECT_EQ(f32_bits(runs.faulted.data<float>()[n * kOutElements + i]), word.words[static_cast<size_t>(i)])
            << "image " << n << ", c element " << i << ": the word cat:0 read";
    }
  }
}

class FaultMatrix : public ::testing::TestWithParam<MatrixCase> {};

TEST_P(FaultMatrix, MatchesTheHandComputedOutput) {
  const MatrixCase& c = GetParam();
  HandFault f{c.site, c.storage, c.model, 0.0, InjectorOptions{}.seed};
  if (c.model != FaultModel::kBitErrorRate) {
    const std::string csv = csv_row(c.site, c.storage, c.model, 0.0);
    SCOPED_TRACE(csv);
    const Runs runs = run_fault(c.backend, c.storage, csv);
    check_runs(runs, f, c.backend, /*expect_change=*/true);
    if (c.model == FaultModel::kRandomValue) {
      // The same seed gives the same bits; another seed another word (so another output).
      const Runs again = run_fault(c.backend, c.storage, csv);
      ASSERT_TRUE(again.error.empty()) << again.error;
      EXPECT_TRUE(bit_identical(runs.faulted, again.faulted)) << "random: the same seed gave different outputs";
      // The other seed: the first from 1 up whose word changes the hand-computed output (a word that decodes to
      // a tiny weight, as bfloat16 0x9e21 from seed 51195 does, is absorbed by the sum, and two such draws give
      // the same output).
      InjectorOptions other;
      HandFault g = f;
      const Expected mine = expected_output(f, /*faulted=*/true);
      for (other.seed = 1; other.seed < 100; ++other.seed) {
        g.seed = other.seed;
        const Expected theirs = expected_output(g, /*faulted=*/true);
        if (std::memcmp(mine.out.data(), theirs.out.data(), mine.out.size() * sizeof(float)) != 0) break;
      }
      ASSERT_LT(other.seed, 100u) << "no seed below 100 gives another output";
      ASSERT_NE(random_word(c.storage, other.seed), random_word(c.storage, f.seed));
      const Runs other_runs = run_fault(c.backend, c.storage, csv, other);
      check_runs(other_runs, g, c.backend, /*expect_change=*/true);
      EXPECT_FALSE(bit_identical(runs.faulted, other_runs.faulted)) << "random: seeds " << f.seed << " and " << other.seed << " gave the same output";
    }
    return;
  }
  // ber: p = 1 inverts every stored word of the tensor (of each image), p = 0 changes nothing, p = 0.5 flips
  // the bits the fault's seeded stream draws, the same for the same seed.
  for (double p : {1.0, 0.0, kBerRate}) {
    const std::string csv = csv_row(c.site, c.storage, c.model, p);
    SCOPED_TRACE(csv);
    f.p = p;
    const Runs runs = run_fault(c.backend, c.storage, csv);
    check_runs(runs, f, c.backend, /*expect_change=*/p != 0.0);
    if (p == kBerRate) {
      const Runs again = run_fault(c.backend, c.storage, csv);
      ASSERT_TRUE(again.error.empty()) << again.error;
      EXPECT_TRUE(bit_identical(runs.faulted, again.faulted)) << "ber: the same seed gave different outputs";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllSupported, FaultMatrix, ::testing::ValuesIn(all_cases()), case_name);

// ---- what faultline refuses, each with its reason ----------------------------------------------------------
::testing::AssertionResult contains(const std::string& message, const std::vector<std::string>& parts) {
  for (const std::string& part : parts)
    if (message.find(part) == std::string::npos)
      return ::testing::AssertionFailure() << "'" << message << "' does not mention '" << part << "'";
  return ::testing::AssertionSuccess();
}

// Bit, Mask and Value columns of a row of `model`.
std::string model_columns(FaultModel model) {
  switch (model) {
    case FaultModel::kBitFlip:
    case FaultModel::kStuckAt0:
    case FaultModel::kStuckAt1: return "3,,";
    case FaultModel::kMultiBitFlip: return ",0x3,";
    case FaultModel::kValue: return ",,1.5";
    case FaultModel::kBitErrorRate: return ",,0.5";
    default: return ",,";
  }
}

// Refused: state x every model on a CNN. A state site is a spiking neuron's potential or current
// (faults/fault_list.h); a CNN has none, so the row does not resolve and the message names the row.
TEST(MatrixRefusals, StateTargetIsRefusedForEveryModel) {
  auto targets = list_fault_targets(*matrix_model());
  ASSERT_TRUE(targets.is_ok());
  for (FaultModel model : kAllModels) {
    SCOPED_TRACE(std::string(fault_model_name(model)));
    const std::string index = model == FaultModel::kBitErrorRate ? "" : "\"(1, 0, 1)\"";
    const std::string columns = model_columns(model);
    const std::string bit = columns.substr(0, columns.find(','));
    const std::string mask_value = columns.substr(columns.find(',') + 1);
    auto list = parse_fault_list("Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value\n0,conv," + index + "," + bit +
                                     ",state," + std::string(fault_model_name(model)) + "," + mask_value + "\n",
                                 "state.csv");
    ASSERT_TRUE(list.is_ok()) << list.status().message();
    auto resolved = resolve_fault_list(*list, *targets);
    ASSERT_FALSE(resolved.is_ok()) << "a state fault resolved";
    EXPECT_EQ(resolved.status().code(), StatusCode::kNotFound) << resolved.status().message();
    EXPECT_TRUE(contains(resolved.status().message(), {"state.csv:2", "no neuron state 'conv'"}));
  }
}

// Refused: activation / input x float16, bfloat16, int64 (any dtype but float32 and an int8 model's int8, uint8
// and int32 values, tests/test_int8_kernel_faults.cpp). Activations are float32 whatever
// SessionOptions::weight_dtype stores the weights as, so no model has such a site; an ArmedFault built by hand
// for one is refused by FaultInjector::create with a message naming the dtype.
TEST(MatrixRefusals, NonFloat32ActivationsAndInputsAreRefusedForEveryModel) {
  auto targets = list_fault_targets(*matrix_model());
  ASSERT_TRUE(targets.is_ok());
  for (TargetKind kind : {TargetKind::kActivation, TargetKind::kInput})
    for (DType dtype : {DType::kFloat16, DType::kBFloat16, DType::kInt64})
      for (FaultModel model : kAllModels) {
        const auto it = std::find_if(targets->begin(), targets->end(), [&](const FaultTarget& t) {
          return t.kind == kind && t.name == "c";
        });
        ASSERT_NE(it, targets->end());
        FaultTarget target = *it;
        target.dtype = dtype;
        Fault fault;
        fault.site.target = kind == TargetKind::kActivation ? SiteTarget::kActivation : SiteTarget::kInput;
        fault.site.layer = target.layer;
        fault.model = model;
        fault.site.bit = 3;
        fault.mask = 0x3;
        fault.value = model == FaultModel::kBitErrorRate ? 0.5 : 1.5;
        const ArmedFault armed{&fault, &target, model == FaultModel::kBitErrorRate ? -1 : 5, 0};
        auto injector = FaultInjector::create({&armed, 1});
        ASSERT_FALSE(injector.is_ok()) << (kind == TargetKind::kActivation ? "activation " : "input ") << dtype_name(dtype)
                                       << " " << fault_model_name(model) << " was armed";
        EXPECT_EQ(injector.status().code(), StatusCode::kUnsupported);
        EXPECT_TRUE(contains(injector.status().message(), {"'c'", std::string(dtype_name(dtype)), "float32"}));
      }
}

// Not a refusal but the reason the cells above are unreachable: with the weights stored as float16 / bfloat16
// / int8, the activation and input sites are still float32, so a float32-only bit (31) is accepted on them.
TEST(MatrixRefusals, ActivationsStayFloat32WhateverTheWeightsAreStoredAs) {
  for (DType storage : {DType::kFloat16, DType::kBFloat16, DType::kInt8})
    for (const std::string row : {"0,conv,\"(1, 0, 1)\",31,activation,bitflip,,\n", "0,cat,\"(1, 0, 1)\",31,input,bitflip,,\n"}) {
      SCOPED_TRACE(std::string(dtype_name(storage)) + " " + row);
      const Runs runs = run_fault("reference", storage, "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value\n" + row);
      ASSERT_TRUE(runs.error.empty()) << runs.error;
      // The sign of c[1, 0, 1] flipped in the Concat's first half of every image.
      for (int64_t n = 0; n < kImages; ++n)
        EXPECT_EQ(f32_bits(runs.faulted.data<float>()[n * kOutElements + kActivationElement]),
                  f32_bits(runs.golden.data<float>()[n * kOutElements + kActivationElement]) ^ 0x80000000u);
      EXPECT_TRUE(bit_identical(runs.golden, runs.after));
    }
}

// Refused: parameters outside what the stored word allows. The fault list resolves against the float32 model
// (bit 20 is a float32 bit), then arming against the stored word refuses it, naming the dtype and range.
TEST(MatrixRefusals, BitsAndMasksBeyondTheStoredWordAreRefused) {
  struct Refusal {
    DType storage;
    std::string row;
    std::vector<std::string> message;
  };
  const std::vector<Refusal> refusals = {
      {DType::kFloat16, "0,conv,\"(1, 0, 1, 0)\",16,weight,bitflip,,", {"float16", "0-15"}},
      {DType::kBFloat16, "0,conv,\"(1, 0, 1, 0)\",20,weight,stuck-at-1,,", {"bfloat16", "0-15"}},
      {DType::kInt8, "0,conv,\"(1, 0, 1, 0)\",8,weight,stuck-at-0,,", {"int8", "0-7"}},
      {DType::kInt8, "0,conv,\"(1, 0, 1, 0)\",,weight,multibit,0x100,", {"int8"}},
      {DType::kFloat16, "0,conv,\"(1, 0, 1, 0)\",,weight,multibit,0x10000,", {"float16"}},
  };
  for (const Refusal& r : refusals) {
    SCOPED_TRACE(r.row);
    const Runs runs = run_fault("reference", r.storage, "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value\n" + r.row + "\n");
    ASSERT_FALSE(runs.error.empty()) << "accepted";
    EXPECT_TRUE(contains(runs.error, r.message));
  }
}

// Refused: NaN as an int8 word (no integer is NaN); a ber probability outside [0, 1] on any target.
TEST(MatrixRefusals, NaNValueOnInt8AndRatesOutsideZeroOneAreRefused) {
  {
    const Runs runs = run_fault("reference", DType::kInt8,
                                "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value\n0,conv,\"(1, 0, 1, 0)\",,weight,value,,nan\n");
    ASSERT_FALSE(runs.error.empty()) << "NaN accepted as an int8 word";
    EXPECT_TRUE(contains(runs.error, {"NaN"})) << runs.error;
  }
  for (const std::string row : {"0,conv,,,weight,ber,,1.5", "0,conv,,,activation,ber,,-0.1", "0,cat,,,input,ber,,2"}) {
    SCOPED_TRACE(row);
    const Runs runs = run_fault("reference", DType::kFloat32, "Injection,Layer,TensorIndex,Bit,Target,Model,Mask,Value\n" + row + "\n");
    ASSERT_FALSE(runs.error.empty()) << "accepted";
  }
}

// Not refused, documented: with int8 weights only the Conv/Gemm/MatMul weight is int8 (biases and BatchNorm
// stay float32), so the int8 cells above are the weight's; int8 activations exist only in int8 models
// (QOperator ONNX), tested in tests/test_int8_kernel_faults.cpp.

}  // namespace
}  // namespace faultline
