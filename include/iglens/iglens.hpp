#pragma once
// IG-Lens: between which layers is the probability of a predicted token
// produced? Include this header for the whole library.

#include "iglens/components/component_attribution.hpp"
#include "iglens/engine/attribution.hpp"
#include "iglens/engine/baseline.hpp"
#include "iglens/engine/engine.hpp"
#include "iglens/engine/estimator.hpp"
#include "iglens/engine/layers.hpp"
#include "iglens/engine/lens.hpp"
#include "iglens/engine/model.hpp"
#include "iglens/engine/norm_kind.hpp"
#include "iglens/engine/objective.hpp"
#include "iglens/engine/options.hpp"
#include "iglens/engine/readout.hpp"
#include "iglens/engine/targets.hpp"
#include "iglens/error.hpp"
#include "iglens/models/bundle.hpp"
#include "iglens/models/bundle_info.hpp"
#include "iglens/models/generation.hpp"
#include "iglens/models/pretrained.hpp"
#include "iglens/models/script_model.hpp"
#include "iglens/text/tokenizer.hpp"
