// Every bad input raises iglens::Error with a message naming the problem.

#include <catch2/catch.hpp>

#include <limits>

#include "fixtures.hpp"

using namespace iglens;
using namespace iglens::testing;

namespace {

struct Case {
  const char* name;
  std::function<void()> run;
  const char* message;
};

}  // namespace

TEST_CASE("bad inputs raise iglens::Error naming the problem", "[errors]") {
  auto net = make_tiny_gpt2();
  auto ids = prompt_ids();
  auto residual = residual_of(net, ids);
  auto targets = Targets::next_tokens(ids);
  auto readout = Readout::norm_head(net->norm_head());
  auto black_box = readout.as_black_box();
  auto run = [&](const torch::Tensor& r, const Targets& t, const Readout& ro, const Options& o) {
    attribute(r, t, ro, o);
  };
  auto with = [](auto change) {
    Options o;
    change(o);
    return o;
  };
  auto poisoned = [&](std::int64_t layer, std::int64_t position, double value) {
    auto copy = residual.clone();
    copy[layer][position][3] = value;
    return copy;
  };
  Targets bad_target = targets;
  bad_target.ids[2] = 50;
  Targets bad_position = targets;
  bad_position.positions[0] = 10;
  Targets foil_is_target = targets;
  foil_is_target.foils = targets.ids;
  Targets no_foils = targets;
  Targets empty;
  Lens<TinyGpt2Model> lens(TinyGpt2Model{net});

  const std::vector<Case> cases{
      {"layer out of range",
       [&] {
         run(residual, targets, readout, with([](Options& o) { o.layers = LayerSelection::explicit_list({7}); }));
       },
       "layer 7 is out of range [0, 3]"},
      {"k too large",
       [&] { run(residual, targets, readout, with([](Options& o) { o.layers = LayerSelection::evenly_spaced(9); })); },
       "k = 9 evenly spaced layers is out of range [1, 3]"},
      {"empty sequence", [&] { run(residual.narrow(1, 0, 0), targets, readout, Options{}); }, "empty sequence"},
      {"empty ids to a model", [&] { lens.attribute(torch::zeros({0}, torch::kLong), targets, Options{}); },
       "empty sequence"},
      {"no positions", [&] { run(residual, empty, readout, Options{}); }, "no positions to attribute"},
      {"target id >= vocab", [&] { run(residual, bad_target, readout, Options{}); },
       "target id 50 is out of range [0, 50)"},
      {"target id >= vocab (black box)", [&] { run(residual, bad_target, black_box, Options{}); },
       "target id 50 is out of range [0, 50)"},
      {"position out of range", [&] { run(residual, bad_position, readout, Options{}); },
       "position 10 is out of range [0, 10)"},
      {"steps < 1", [&] { run(residual, targets, readout, with([](Options& o) { o.steps = 0; })); },
       "steps must be at least 1 and at most 16384 (got 0)"},
      {"steps < 1 (gradient)",
       [&] {
         run(residual, targets, readout, with([](Options& o) {
               o.steps = -3;
               o.estimator = Estimator::gauss_legendre;
             }));
       },
       "steps must be at least 1 and at most 16384 (got -3)"},
      {"steps > max_steps",
       [&] {
         run(residual, targets, readout, with([](Options& o) {
               o.steps = 100000;
               o.estimator = Estimator::gauss_legendre;
             }));
       },
       "steps must be at least 1 and at most 16384 (got 100000)"},
      {"foil equal to target",
       [&] {
         run(residual, foil_is_target, readout,
             with([](Options& o) { o.objective = Objective::probability_difference; }));
       },
       "foil equals the target"},
      {"missing foils",
       [&] {
         run(residual, no_foils, readout, with([](Options& o) { o.objective = Objective::probability_difference; }));
       },
       "needs one foil per position"},
      {"residual of wrong rank", [&] { run(residual[0], targets, readout, Options{}); },
       "must be [L+1, S, d], got [10, 16]"},
      {"integer residual", [&] { run(residual.to(torch::kLong), targets, readout, Options{}); },
       "must be floating point"},
      {"NaN in the residual", [&] { run(poisoned(2, 4, std::nan("")), targets, readout, Options{}); },
       "NaN or Inf at layer 2, position 4"},
      {"Inf in the residual",
       [&] { run(poisoned(0, 9, std::numeric_limits<double>::infinity()), targets, readout, Options{}); },
       "NaN or Inf at layer 0, position 9"},
      {"readout of another width", [&] { run(residual.narrow(2, 0, 8), targets, readout, Options{}); },
       "readout expects d_model 16 but the residual stream has d = 8"},
      {"readout returns a wrong shape",
       [&] {
         run(residual, targets, Readout::black_box([&](const torch::Tensor& h) {
               return net->readout_logits(h).narrow(1, 0, 49).narrow(0, 0, h.size(0) > 1 ? h.size(0) - 1 : 1);
             }),
             Options{});
       },
       "readout returned logits of shape"},
      {"readout returns a wrong dtype",
       [&] {
         run(residual, targets,
             Readout::black_box([&](const torch::Tensor& h) { return net->readout_logits(h.to(torch::kFloat)); }),
             with([](Options& o) { o.dtype = torch::kFloat64; }));
       },
       "readout returned float32 logits for float64 input"},
      {"readout fails inside",
       [&] { run(residual, targets, black_box, with([](Options& o) { o.dtype = torch::kFloat64; })); },
       "readout failed: "},  // then LibTorch's own words, which differ between versions
      {"readout returns NaN",
       [&] {
         run(residual, targets,
             Readout::black_box([&](const torch::Tensor& h) { return net->readout_logits(h) * std::nan(""); }),
             Options{});
       },
       "readout produced NaN or Inf logits"},
      {"model returns a wrong shape",
       [&] {
         struct Broken : TinyGpt2Model {
           torch::Tensor residual_stream(const torch::Tensor& ids) { return net->residual_stream(ids)[0]; }
         };
         Lens<Broken> broken(Broken{{net}});
         broken.attribute(as_tensor(ids), targets, Options{});
       },
       "model returned a residual stream of shape [1, 10, 16] for ids [1, 10]"},
      {"ids of the wrong dtype", [&] { lens.attribute(as_tensor(ids).to(torch::kInt), targets, Options{}); },
       "token ids must be int64"},
      {"unsupported dtype", [&] { run(residual, targets, readout, with([](Options& o) { o.dtype = torch::kHalf; })); },
       "dtype must be float32 or float64"},
      {"onset fraction", [&] { run(residual, targets, readout, with([](Options& o) { o.onset_fraction = 0.0; })); },
       "onset fraction must be in (0, 1]"},
      {"norm head with a bad bias",
       [&] {
         auto head = net->norm_head();
         head.bias = torch::zeros({3});
         Readout::norm_head(head);
       },
       "norm bias must be [16], got [3]"},
  };
  for (const auto& c : cases) {
    INFO("case: " << c.name);
    try {
      c.run();
      FAIL_CHECK("no error was raised");
    } catch (const iglens::Error& e) {
      CHECK_THAT(std::string(e.what()), Catch::Contains(c.message));
    } catch (const std::exception& e) {
      FAIL_CHECK("raised a non-iglens exception: " << e.what());
    }
  }
}

TEST_CASE("h = 0 under a norm with eps 0, or a value past the dtype's range, names the token and layer",
          "[errors][numerics]") {
  const auto head = random_norm_head(NormKind::rms_norm, 0.0);
  torch::manual_seed(5);
  auto residual = torch::randn({4, 2, 64});
  residual[2][1] = -residual[1][1];  // position 1 goes through 0 from layer 1 to layer 2
  Targets targets;
  targets.positions = {0, 1};
  targets.ids = {5, 7};
  auto message = [&](const torch::Tensor& r, const NormHead& h, Options o) {
    try {
      attribute(r, targets, Readout::norm_head(h), o);
    } catch (const iglens::Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  for (auto estimator : {Estimator::observed_delta, Estimator::riemann_midpoint, Estimator::gauss_legendre}) {
    INFO(estimator_name(estimator));
    Options o;
    o.estimator = estimator;
    o.steps = 8;
    // Observed-delta gave finite credits here, across the jump of f at h = 0.
    CHECK_THAT(message(residual, head, o), Catch::Contains("the path to layer 2 at position 1 passes through h = 0") &&
                                               Catch::Contains("use a non-zero norm eps or another baseline"));
    auto zero_baseline = o;
    zero_baseline.baseline = Baseline::zero();
    zero_baseline.layers = LayerSelection::explicit_list({3});
    CHECK_THAT(message(residual, head, zero_baseline),
               Catch::Contains("the path to layer 3 at position 0 passes through h = 0"));
    auto with_eps = head;
    with_eps.eps = 1e-6;
    CHECK(message(residual, with_eps, zero_baseline) == "no error");
  }
  // Logits past float32's range: fine in float64.
  auto huge = head;
  huge.eps = 1e-6;
  huge.unembedding = huge.unembedding.tensor() * 1e38;
  Options o;
  o.objective = Objective::log_probability;
  CHECK_THAT(message(residual, huge, o), Catch::Contains("logprob is not finite at position 0, the baseline") &&
                                             Catch::Contains("--dtype float64"));
  o.dtype = torch::kFloat64;
  CHECK(message(residual, huge.to(torch::kDouble), o) == "no error");
}
