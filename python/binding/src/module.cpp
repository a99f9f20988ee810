// iglens._core: the C++ library behind `import iglens`. Python's wrapper
// (iglens/__init__.py) gives the keyword arguments and results their shape;
// here the library runs with the GIL released, Ctrl-C is heard between
// chunks of work, and iglens::Error becomes iglens.Error (a ValueError).

#include <cstdint>
#include <exception>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <torch/extension.h>

#include "iglens/iglens.hpp"

namespace py = pybind11;

namespace {

struct Interrupted : std::exception {
  const char* what() const noexcept override { return "interrupted"; }
};

// Python's signal handlers, run between chunks of work (each progress call)
// while the GIL is released: a handler that raises (Ctrl-C's
// KeyboardInterrupt) stops the run, and its exception is raised once the
// library has unwound.
class SignalCheck {
 public:
  SignalCheck() = default;
  SignalCheck(const SignalCheck&) = delete;
  SignalCheck& operator=(const SignalCheck&) = delete;
  ~SignalCheck() {
    py::gil_scoped_acquire gil;
    Py_XDECREF(type_);
    Py_XDECREF(value_);
    Py_XDECREF(traceback_);
  }

  iglens::StageProgress progress() {
    return [this](std::int64_t, std::int64_t) { check(); };
  }

  void check() {
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() != 0) {
      PyErr_Fetch(&type_, &value_, &traceback_);
      throw Interrupted();
    }
  }

  // Runs `work` without the GIL; an interruption raises the handler's exception.
  template <class Work>
  void run(Work&& work) {
    try {
      py::gil_scoped_release release;
      work();
    } catch (const Interrupted&) {
      PyErr_Restore(type_, value_, traceback_);
      type_ = value_ = traceback_ = nullptr;
      throw py::error_already_set();
    }
  }

 private:
  PyObject *type_ = nullptr, *value_ = nullptr, *traceback_ = nullptr;
};

// Text as Python reads it: token bytes that are not UTF-8 get U+FFFD, as in the JSON.
py::str text(const std::string& bytes) {
  auto* decoded = PyUnicode_DecodeUTF8(bytes.data(), static_cast<Py_ssize_t>(bytes.size()), "replace");
  if (decoded == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(decoded);
}

py::list texts(const std::vector<std::string>& items) {
  py::list out;
  for (const auto& item : items) out.append(text(item));
  return out;
}

struct Model {
  iglens::LoadedModel loaded;
};

Model load(const std::string& path, const std::string& weights) {
  const auto storage = iglens::parse_weight_storage(weights);
  std::optional<iglens::LoadedModel> loaded;
  {
    py::gil_scoped_release release;
    loaded.emplace(iglens::load_model(path, storage));
  }
  return Model{std::move(*loaded)};
}

// The settings checked against the model's own tokenizer and template.
iglens::PromptSettings settings_for(const Model& model, iglens::AttributeSettings& s) {
  s.model = model.loaded.description().path;
  return iglens::prompt_settings(s, [&](const auto& use) {
    use(iglens::ModelText{model.loaded.tokenizer(), model.loaded.chat_template()});
  });
}

iglens::Report attribute(Model& model, iglens::AttributeSettings s) {
  const auto settings = settings_for(model, s);
  const auto request = iglens::prompt_request(s, s.prompt, s.target);
  iglens::Report report;
  SignalCheck signals;
  signals.run([&] {
    iglens::PromptLens lens(model.loaded, settings);
    report = lens.attribute(request, signals.progress(), signals.progress());
  });
  return report;
}

// The prompt's token ids as attribute() reads them, and the text they come from.
py::dict tokenize(const Model& model, iglens::AttributeSettings s) {
  const auto settings = settings_for(model, s);
  const auto& tokenizer = model.loaded.tokenizer();
  const auto request = iglens::prompt_request(s, s.prompt, std::nullopt);
  iglens::require(!request.messages.empty() || !s.prompt.empty(),
                  "empty prompt: give a PROMPT argument or text on --stdin");
  const auto prompt = iglens::encode_prompt(tokenizer, request, s.special_tokens, s.bos,
                                            [&]() -> const iglens::ChatTemplate& { return *settings.chat_template; });
  py::list tokens;
  for (const auto id : prompt.ids) tokens.append(text(tokenizer.token_text(id)));
  py::dict out;
  out["text"] = text(prompt.text);
  out["ids"] = prompt.ids;
  out["tokens"] = tokens;
  return out;
}

torch::ScalarType report_dtype(const iglens::Report& report) { return iglens::parse_dtype(report.dtype); }

// Rows of equal length as a [rows, columns] tensor of the run's dtype.
torch::Tensor matrix(const iglens::Report& report, const std::vector<double> iglens::TokenRow::*field) {
  const auto rows = static_cast<std::int64_t>(report.tokens.size());
  const auto columns = rows == 0 ? 0 : static_cast<std::int64_t>((report.tokens.front().*field).size());
  auto out = torch::empty({rows, columns}, torch::kDouble);
  for (std::int64_t t = 0; t < rows; ++t) {
    const auto& values = report.tokens[static_cast<std::size_t>(t)].*field;
    std::copy(values.begin(), values.end(), out[t].data_ptr<double>());
  }
  return out.to(report_dtype(report));
}

torch::Tensor column(const iglens::Report& report, const double iglens::TokenRow::*field) {
  std::vector<double> values;
  for (const auto& row : report.tokens) values.push_back(row.*field);
  return torch::tensor(values, torch::kDouble).to(report_dtype(report));
}

torch::Tensor ids_of(const iglens::Report& report, std::int64_t (*of)(const iglens::TokenRow&)) {
  std::vector<std::int64_t> values;
  for (const auto& row : report.tokens) values.push_back(of(row));
  return torch::tensor(values, torch::kLong);
}

// Source credits [T, L, H, S]: token t's head reads positions 0..position, later ones hold 0.
torch::Tensor source_credits(const iglens::Report& report) {
  const auto& layout = report.components->layout;
  const auto S = static_cast<std::int64_t>(report.sources->ids.size());
  const auto T = static_cast<std::int64_t>(report.tokens.size());
  auto out = torch::zeros({T, layout.n_layer, layout.n_head, S}, torch::kDouble);
  for (std::int64_t t = 0; t < T; ++t) {
    const auto& row = report.tokens[static_cast<std::size_t>(t)];
    const auto width = row.position + 1;
    const auto* credit = row.source_credits.data();
    for (std::int64_t block = 0; block < layout.n_layer; ++block)
      for (std::int64_t head = 0; head < layout.n_head; ++head, credit += width)
        std::copy(credit, credit + width, out[t][block][head].data_ptr<double>());
  }
  return out.to(report_dtype(report));
}

// The map's tensors, keyed as the Python result names them.
py::dict arrays(const iglens::Report& report) {
  py::dict out;
  out["ig"] = matrix(report, &iglens::TokenRow::ig);
  out["lens"] = matrix(report, &iglens::TokenRow::lens);
  out["f_final"] = column(report, &iglens::TokenRow::f_final);
  out["f_baseline"] = column(report, &iglens::TokenRow::f_baseline);
  out["delta"] = column(report, &iglens::TokenRow::delta);
  out["onset"] = ids_of(report, [](const iglens::TokenRow& row) { return row.onset_layer.value_or(-1); });
  out["positions"] = ids_of(report, [](const iglens::TokenRow& row) { return row.position; });
  out["target_ids"] = ids_of(report, [](const iglens::TokenRow& row) { return row.target_id; });
  if (report.has_foils())
    out["foil_ids"] = ids_of(report, [](const iglens::TokenRow& row) { return row.foil_id.value_or(-1); });
  if (report.components) out["component_credits"] = matrix(report, &iglens::TokenRow::component_credits);
  if (report.sources) out["source_credits"] = source_credits(report);
  return out;
}

iglens::NormKind norm_kind(const std::string& name) {
  if (name == "layernorm") return iglens::NormKind::layer_norm;
  if (name == "rmsnorm") return iglens::NormKind::rms_norm;
  iglens::fail("unknown norm '{}' (expected layernorm or rmsnorm)", name);
}

torch::Tensor optional_tensor(const std::optional<torch::Tensor>& tensor) { return tensor ? *tensor : torch::Tensor(); }

// The layer map of a residual stream [L+1, S, d] read through a final norm and unembedding.
iglens::Attribution attribute_residual(const torch::Tensor& residual, iglens::Targets targets,
                                       const iglens::NormHead& head, iglens::AttributeSettings s) {
  auto options = iglens::options_from(s);
  iglens::require(targets.ids.size() == targets.positions.size(),
                  "targets: {} positions but {} target ids; give one id per position", targets.positions.size(),
                  targets.ids.size());
  iglens::require(targets.foils.empty() || targets.foils.size() == targets.positions.size(),
                  "targets: {} positions but {} foils; give one foil per position", targets.positions.size(),
                  targets.foils.size());
  iglens::require(!targets.positions.empty(), "no targets: give at least one position and its target id");
  iglens::Attribution map;
  SignalCheck signals;
  options.progress = signals.progress();
  signals.run([&] { map = iglens::attribute(residual, targets, iglens::Readout::norm_head(head), options); });
  return map;
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "IG-Lens: between which layers is the probability of a predicted token produced (C++ core)";
  py::register_exception<iglens::Error>(m, "Error", PyExc_ValueError);

  py::class_<iglens::AttributeSettings>(m, "AttributeSettings")
      .def(py::init<>())
      .def_readwrite("prompt", &iglens::AttributeSettings::prompt)
      .def_readwrite("generate", &iglens::AttributeSettings::generate)
      .def_readwrite("stop", &iglens::AttributeSettings::stop)
      .def_readwrite("target", &iglens::AttributeSettings::target)
      .def_readwrite("layers", &iglens::AttributeSettings::layers)
      .def_readwrite("k", &iglens::AttributeSettings::k)
      .def_readwrite("steps", &iglens::AttributeSettings::steps)
      .def_readwrite("estimator", &iglens::AttributeSettings::estimator)
      .def_readwrite("baseline", &iglens::AttributeSettings::baseline)
      .def_readwrite("objective", &iglens::AttributeSettings::objective)
      .def_readwrite("foil", &iglens::AttributeSettings::foil)
      .def_readwrite("onset_fraction", &iglens::AttributeSettings::onset_fraction)
      .def_readwrite("dtype", &iglens::AttributeSettings::dtype)
      .def_readwrite("device", &iglens::AttributeSettings::device)
      .def_readwrite("special_tokens", &iglens::AttributeSettings::special_tokens)
      .def_readwrite("bos", &iglens::AttributeSettings::bos)
      .def_readwrite("components", &iglens::AttributeSettings::components)
      .def_readwrite("sources", &iglens::AttributeSettings::sources)
      .def_readwrite("top_sources", &iglens::AttributeSettings::top_sources)
      .def_readwrite("chat", &iglens::AttributeSettings::chat)
      .def_readwrite("system", &iglens::AttributeSettings::system)
      .def_readwrite("chat_template", &iglens::AttributeSettings::chat_template);

  py::class_<iglens::Report>(m, "Report")
      .def_property_readonly("model", [](const iglens::Report& r) { return r.model; })
      .def_property_readonly("prompt", [](const iglens::Report& r) { return text(r.prompt); })
      .def_property_readonly("prompt_ids", [](const iglens::Report& r) { return r.prompt_ids; })
      .def_property_readonly("mode", [](const iglens::Report& r) { return r.mode; })
      .def_property_readonly("stopped", [](const iglens::Report& r) { return r.stopped; })
      .def_property_readonly("stop_id", [](const iglens::Report& r) { return r.stop_id; })
      .def_property_readonly("layers", [](const iglens::Report& r) { return r.layers; })
      .def_property_readonly("dtype", [](const iglens::Report& r) { return r.dtype; })
      .def_property_readonly("completeness_max_abs", [](const iglens::Report& r) { return r.completeness_max_abs; })
      .def_property_readonly("targets",
                             [](const iglens::Report& r) {
                               std::vector<std::string> out;
                               for (const auto& row : r.tokens) out.push_back(row.target);
                               return texts(out);
                             })
      .def_property_readonly("component_labels",
                             [](const iglens::Report& r) {
                               return r.components ? r.components->layout.labels() : std::vector<std::string>();
                             })
      .def_property_readonly("source_tokens",
                             [](const iglens::Report& r) { return r.sources ? texts(r.sources->tokens) : py::list(); })
      .def("arrays", &arrays)
      .def("to_json", [](const iglens::Report& r) { return iglens::to_json(r); })
      .def("to_table", [](const iglens::Report& r) { return iglens::to_table(r); })
      .def("to_csv", [](const iglens::Report& r) { return iglens::to_csv(r); })
      .def("to_svg", [](const iglens::Report& r) { return iglens::heatmap_svg(r); })
      .def("to_html", [](const iglens::Report& r) { return iglens::html_report(r); });

  py::class_<Model>(m, "Model")
      .def_property_readonly("info", [](const Model& model) { return model.loaded.info().dump(); })
      .def_property_readonly("path", [](const Model& model) { return model.loaded.description().path; })
      .def("attribute", &attribute)
      .def("tokenize", &tokenize);
  m.def("load", &load, py::arg("path"), py::arg("weights") = "float");

  py::class_<iglens::NormHead>(m, "NormHead")
      .def(py::init([](const std::string& kind, const torch::Tensor& weight, const torch::Tensor& unembedding,
                       const std::optional<torch::Tensor>& bias, double eps,
                       const std::optional<torch::Tensor>& head_bias, double softcap) {
             iglens::NormHead head{
                 norm_kind(kind), weight, optional_tensor(bias), eps, unembedding, optional_tensor(head_bias), softcap};
             head.validate();
             return head;
           }),
           py::arg("kind"), py::arg("weight"), py::arg("unembedding"), py::arg("bias"), py::arg("eps"),
           py::arg("head_bias"), py::arg("softcap"));

  py::class_<iglens::Targets>(m, "Targets")
      .def(py::init(
          [](std::vector<std::int64_t> positions, std::vector<std::int64_t> ids, std::vector<std::int64_t> foils) {
            return iglens::Targets{std::move(positions), std::move(ids), std::move(foils)};
          }))
      .def_static("next_tokens", &iglens::Targets::next_tokens, py::arg("ids"), py::arg("first"));

  py::class_<iglens::Attribution>(m, "Attribution")
      .def_readonly("ig", &iglens::Attribution::ig)
      .def_readonly("lens", &iglens::Attribution::lens)
      .def_readonly("f_baseline", &iglens::Attribution::f_baseline)
      .def_readonly("f_final", &iglens::Attribution::f_final)
      .def_readonly("delta", &iglens::Attribution::delta)
      .def_readonly("convergence_delta", &iglens::Attribution::convergence_delta)
      .def_readonly("onset", &iglens::Attribution::onset_layer)
      .def_readonly("positions", &iglens::Attribution::positions)
      .def_readonly("target_ids", &iglens::Attribution::target_ids)
      .def_readonly("foil_ids", &iglens::Attribution::foil_ids)
      .def_readonly("layers", &iglens::Attribution::layers)
      .def_readonly("completeness_error", &iglens::Attribution::completeness_error)
      .def_readonly("steps", &iglens::Attribution::steps)
      .def_readonly("baseline", &iglens::Attribution::baseline)
      .def_property_readonly("estimator",
                             [](const iglens::Attribution& a) { return iglens::estimator_name(a.estimator); })
      .def_property_readonly("objective",
                             [](const iglens::Attribution& a) { return iglens::objective_name(a.objective); });
  m.def("attribute", &attribute_residual, py::arg("residual"), py::arg("targets"), py::arg("norm_head"),
        py::arg("settings"));
}
