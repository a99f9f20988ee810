// A researcher's first question about a model file: where does the next
// token of a prompt come from? Load any model IG-Lens reads (a GGUF file, a
// Hugging Face folder, a bundle), attribute the model's own next token to
// every layer and to every head, attention bias and MLP, and print the
// layers and the largest components.
//
// usage: top_components MODEL PROMPT [COUNT]
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include <iglens/iglens.hpp>

int main(int argc, char** argv) try {
  if (argc < 3 || argc > 4) throw iglens::Error("usage: top_components MODEL PROMPT [COUNT]");
  const std::size_t count = argc == 4 ? std::stoul(argv[3]) : 10;
  iglens::Lens<iglens::LoadedModel> lens(iglens::load_model(argv[1]));
  const auto& tokenizer = lens.model().tokenizer();

  // The prompt as the model reads it (with BOS where its tokenizer adds one),
  // and the model's most likely next token at its last position.
  auto ids = tokenizer.encode(argv[2], {/*special_tokens=*/false, /*add_bos=*/tokenizer.adds_bos()});
  const auto last = static_cast<std::int64_t>(ids.size()) - 1;
  const auto next = lens.model().logits(torch::tensor(ids).unsqueeze(0))[0][last].argmax().item<std::int64_t>();

  iglens::Options options;  // every layer, causal-mean baseline, observed-delta, 64 steps
  const iglens::Targets targets{{last}, {next}, {}};
  const auto map = lens.attribute_components(torch::tensor(ids), targets, options);

  std::printf("next token %s (id %lld): p = %.6f, from %.6f at the baseline\n",
              iglens::display_token(tokenizer.token_text(next)).c_str(), static_cast<long long>(next),
              map.layers.f_final[0].item<double>(), map.layers.f_baseline[0].item<double>());
  std::printf("\nlayer       IG     lens\n");
  for (std::size_t j = 0; j < map.layers.layers.size(); ++j) {
    const auto k = static_cast<std::int64_t>(j);
    std::printf("%5lld %+.6f %.6f\n", static_cast<long long>(map.layers.layers[j]), map.layers.ig[0][k].item<double>(),
                map.layers.lens[0][k].item<double>());
  }

  // The components whose credit is largest in size.
  const auto& parts = map.components.layout.parts;
  const auto credits = map.components.credits[0];
  std::vector<std::size_t> order(parts.size());
  std::iota(order.begin(), order.end(), 0);
  const auto credit = [&](std::size_t i) { return credits[static_cast<std::int64_t>(i)].item<double>(); };
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return std::abs(credit(a)) > std::abs(credit(b)); });
  std::printf("\ncomponent          credit\n");
  for (std::size_t i = 0; i < std::min(count, order.size()); ++i) {
    std::printf("%-16s %+.6f\n", parts[order[i]].label().c_str(), credit(order[i]));
  }
  // Exactly (in float64) the change of p along the components' path; that change is the layer map's
  // up to float32 rounding, the two reading p through separately rounded products.
  std::printf("\nall %zu components add up to %+.9f, the change of p along their path %+.9f\n", parts.size(),
              credits.sum().item<double>(), map.components.delta[0].item<double>());
} catch (const std::exception& e) {
  std::cerr << "error: " << e.what() << '\n';
  return 1;
}
