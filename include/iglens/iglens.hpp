#pragma once
// IG-Lens: between which layers is the probability of a predicted token
// produced? Include this header for the whole library.

#include "iglens/attribution.hpp"
#include "iglens/baseline.hpp"
#include "iglens/bundle.hpp"
#include "iglens/bundle_info.hpp"
#include "iglens/components/component_attribution.hpp"
#include "iglens/engine.hpp"
#include "iglens/error.hpp"
#include "iglens/estimator.hpp"
#include "iglens/layers.hpp"
#include "iglens/lens.hpp"
#include "iglens/model.hpp"
#include "iglens/models/pretrained.hpp"
#include "iglens/norm_kind.hpp"
#include "iglens/objective.hpp"
#include "iglens/options.hpp"
#include "iglens/readout.hpp"
#include "iglens/script_model.hpp"
#include "iglens/targets.hpp"
#include "iglens/tokenizer.hpp"
