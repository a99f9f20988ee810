#pragma once
// Tiny GPT-2-style decoders for the tests, with seeded random weights:
// - TinyGpt2: written with the C++ torch::nn frontend;
// - scripted_twin(): the same network as a TorchScript module defined from
//   source in C++, with forward / residual_stream / readout methods.
// Both compute the same function from the same parameters.

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <torch/script.h>
#include <torch/torch.h>

#include "iglens/engine/readout.hpp"

namespace iglens::testing {

struct TinyConfig {
  std::int64_t n_layer = 3;
  std::int64_t d_model = 16;
  std::int64_t n_head = 2;
  std::int64_t vocab_size = 50;
  std::int64_t context = 32;
  std::uint64_t seed = 1234;
};

inline torch::Tensor gelu_tanh(const torch::Tensor& x) {
  return 0.5 * x * (1.0 + torch::tanh(std::sqrt(2.0 / M_PI) * (x + 0.044715 * x.pow(3))));
}

struct BlockImpl : torch::nn::Module {
  BlockImpl(std::int64_t d, std::int64_t heads)
      : n_head(heads),
        ln1(register_module("ln1", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-5)))),
        qkv(register_module("qkv", torch::nn::Linear(d, 3 * d))),
        proj(register_module("proj", torch::nn::Linear(d, d))),
        ln2(register_module("ln2", torch::nn::LayerNorm(torch::nn::LayerNormOptions({d}).eps(1e-5)))),
        fc(register_module("fc", torch::nn::Linear(d, 4 * d))),
        fc_proj(register_module("fc_proj", torch::nn::Linear(4 * d, d))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    const auto B = x.size(0), S = x.size(1), d = x.size(2), hd = d / n_head;
    auto parts = qkv(ln1(x)).split(d, -1);
    auto heads = [&](const torch::Tensor& t) { return t.view({B, S, n_head, hd}).transpose(1, 2); };
    auto att = torch::matmul(heads(parts[0]), heads(parts[1]).transpose(-2, -1)) / std::sqrt(static_cast<double>(hd));
    auto mask = torch::ones({S, S}, torch::dtype(torch::kBool).device(x.device())).triu(1);
    att = att.masked_fill(mask, -std::numeric_limits<double>::infinity()).softmax(-1);
    auto y = torch::matmul(att, heads(parts[2])).transpose(1, 2).reshape({B, S, d});
    auto h = x + proj(y);
    return h + fc_proj(gelu_tanh(fc(ln2(h))));
  }

  std::int64_t n_head;
  torch::nn::LayerNorm ln1;
  torch::nn::Linear qkv, proj;
  torch::nn::LayerNorm ln2;
  torch::nn::Linear fc, fc_proj;
};
TORCH_MODULE(Block);

struct TinyGpt2Impl : torch::nn::Module {
  explicit TinyGpt2Impl(const TinyConfig& c)
      : config(c),
        wte(register_module("wte", torch::nn::Embedding(c.vocab_size, c.d_model))),
        wpe(register_module("wpe", torch::nn::Embedding(c.context, c.d_model))),
        blocks(register_module("blocks", torch::nn::ModuleList())),
        ln_f(register_module("ln_f", torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.d_model}).eps(1e-5)))) {
    for (std::int64_t l = 0; l < c.n_layer; ++l) blocks->push_back(Block(c.d_model, c.n_head));
    // Non-trivial norm gains and shifts, so the closed form's g and beta matter.
    torch::NoGradGuard no_grad;
    for (auto& p : named_parameters()) {
      if (p.key().find("ln") != std::string::npos) {
        const bool is_gain = p.key().find("weight") != std::string::npos;
        p.value().copy_((is_gain ? 1.0 : 0.0) + 0.2 * torch::randn_like(p.value()));
      }
    }
  }

  // [L+1, B, S, d]: embeddings, then the residual after each block; the last
  // entry is the residual before ln_f.
  torch::Tensor residual_stream(const torch::Tensor& ids) {
    auto positions = torch::arange(ids.size(1), ids.options());
    auto x = wte(ids) + wpe(positions);
    std::vector<torch::Tensor> states{x};
    for (const auto& block : *blocks) {
      x = block->as<Block>()->forward(x);
      states.push_back(x);
    }
    return torch::stack(states);
  }

  torch::Tensor readout_logits(const torch::Tensor& h) { return torch::nn::functional::linear(ln_f(h), wte->weight); }

  torch::Tensor logits(const torch::Tensor& ids) { return readout_logits(residual_stream(ids)[-1]); }

  NormHead norm_head() { return {NormKind::layer_norm, ln_f->weight, ln_f->bias, 1e-5, wte->weight, torch::Tensor()}; }

  TinyConfig config;
  torch::nn::Embedding wte, wpe;
  torch::nn::ModuleList blocks;
  torch::nn::LayerNorm ln_f;
};
TORCH_MODULE(TinyGpt2);

inline TinyGpt2 make_tiny_gpt2(const TinyConfig& config = {}, torch::ScalarType dtype = torch::kFloat32) {
  torch::manual_seed(config.seed);
  TinyGpt2 net(config);
  net->to(dtype);
  net->eval();
  return net;
}

// The iglens model concept over TinyGpt2, with the closed-form readout or the
// same readout as a black box.
struct TinyGpt2Model {
  TinyGpt2 net;
  bool closed_form = true;

  torch::Tensor residual_stream(const torch::Tensor& ids) { return net->residual_stream(ids); }
  torch::Tensor logits(const torch::Tensor& ids) { return net->logits(ids); }
  Readout readout() {
    auto r = Readout::norm_head(net->norm_head());
    return closed_form ? r : r.as_black_box();
  }
};

// The same network as TorchScript, compiled from source in C++.
inline torch::jit::Module scripted_twin(const TinyGpt2& net) {
  torch::NoGradGuard no_grad;
  const auto& c = net->config;
  torch::jit::Module m("TinyGpt2Script");
  auto stacked = [&](const std::string& name) {
    std::vector<torch::Tensor> per_layer;
    for (const auto& p : net->named_parameters()) {
      if (p.key().rfind("blocks.", 0) == 0 && p.key().substr(p.key().find('.', 7) + 1) == name) {
        per_layer.push_back(p.value().detach().clone());
      }
    }
    return torch::stack(per_layer);
  };
  m.register_parameter("wte", net->wte->weight.detach().clone(), false);
  m.register_parameter("wpe", net->wpe->weight.detach().clone(), false);
  for (const char* name : {"ln1.weight", "ln1.bias", "qkv.weight", "qkv.bias", "proj.weight", "proj.bias", "ln2.weight",
                           "ln2.bias", "fc.weight", "fc.bias", "fc_proj.weight", "fc_proj.bias"}) {
    std::string flat = name;
    flat[flat.find('.')] = '_';
    m.register_parameter(flat, stacked(name), false);
  }
  m.register_parameter("lnf_weight", net->ln_f->weight.detach().clone(), false);
  m.register_parameter("lnf_bias", net->ln_f->bias.detach().clone(), false);
  m.register_attribute("n_layer", c10::IntType::get(), c.n_layer);
  m.register_attribute("n_head", c10::IntType::get(), c.n_head);
  m.register_attribute("d_model", c10::IntType::get(), c.d_model);
  m.define(R"(
def gelu(self, x):
    return 0.5 * x * (1.0 + torch.tanh(0.7978845608028654 * (x + 0.044715 * torch.pow(x, 3))))

def residual_stream(self, ids):
    B = ids.size(0)
    S = ids.size(1)
    d = self.d_model
    H = self.n_head
    hd = d // H
    x = torch.embedding(self.wte, ids) + torch.embedding(self.wpe, torch.arange(S, device=ids.device))
    states = [x]
    mask = torch.triu(torch.ones(S, S, device=ids.device), 1) > 0.5
    for l in range(self.n_layer):
        h = torch.layer_norm(x, [d], self.ln1_weight[l], self.ln1_bias[l], 1e-5)
        parts = (torch.matmul(h, self.qkv_weight[l].t()) + self.qkv_bias[l]).split(d, -1)
        q = parts[0].view(B, S, H, hd).transpose(1, 2)
        k = parts[1].view(B, S, H, hd).transpose(1, 2)
        v = parts[2].view(B, S, H, hd).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-2, -1)) / (float(hd) ** 0.5)
        att = att.masked_fill(mask, float('-inf')).softmax(-1)
        y = torch.matmul(att, v).transpose(1, 2).reshape(B, S, d)
        x = x + torch.matmul(y, self.proj_weight[l].t()) + self.proj_bias[l]
        h = torch.layer_norm(x, [d], self.ln2_weight[l], self.ln2_bias[l], 1e-5)
        hidden = self.gelu(torch.matmul(h, self.fc_weight[l].t()) + self.fc_bias[l])
        x = x + torch.matmul(hidden, self.fc_proj_weight[l].t()) + self.fc_proj_bias[l]
        states.append(x)
    return torch.stack(states)

def readout(self, h):
    return torch.matmul(torch.layer_norm(h, [self.d_model], self.lnf_weight, self.lnf_bias, 1e-5), self.wte.t())

def forward(self, ids):
    return self.readout(self.residual_stream(ids)[-1])
)");
  m.eval();
  return m;
}

}  // namespace iglens::testing
