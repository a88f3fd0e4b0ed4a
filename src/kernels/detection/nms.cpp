// non_maximum_suppression, as coremltools documents it (and its TensorFlow-based reference in
// the op tests shows): a box's score is its best class score; boxes are taken greedily by
// descending score (ties: lower index first), skipping those at or below score_threshold and
// those whose IoU with an already taken box exceeds iou_threshold (with per_class_suppression,
// only boxes of the same best class suppress each other). At most max_boxes are kept; when none
// survives, the best-scoring box is returned alone. Unused output slots hold zeros and index -1.
//   iOS15: boxes [n, B, 4] (centre x, centre y, width, height), scores [n, B, K]
//          -> boxes [n, M, 4], scores [n, M, K], indices [n, M], counts [n]
//   iOS17: boxes [n, 4, B], scores [n, K, B], no score_threshold
//          -> boxes [n, 4, M], scores [n, K, M], indices [n, M]
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "kernels/common/compute.h"
#include "kernels/output_limits.h"
#include "runtime/kernel_registry.h"

namespace coreml::kernels {
namespace {

struct Corners {
  double x1, y1, x2, y2;
};

Corners corners(const double* b) {  // centre x, centre y, width, height
  return {b[0] - b[2] / 2, b[1] - b[3] / 2, b[0] + b[2] / 2, b[1] + b[3] / 2};
}

double iou(const Corners& a, const Corners& b) {
  const double iw = std::max(0.0, std::min(a.x2, b.x2) - std::max(a.x1, b.x1));
  const double ih = std::max(0.0, std::min(a.y2, b.y2) - std::max(a.y1, b.y1));
  const double inter = iw * ih;
  const double uni = (a.x2 - a.x1) * (a.y2 - a.y1) + (b.x2 - b.x1) * (b.y2 - b.y1) - inter;
  return uni > 0 ? inter / uni : 0.0;
}

// Selected box indices of one batch element.
std::vector<int64_t> select(const std::vector<double>& boxes, const std::vector<double>& scores,
                            int64_t count, int64_t classes, double iou_threshold,
                            double score_threshold, int64_t max_boxes, bool per_class) {
  std::vector<double> best(static_cast<size_t>(count));
  std::vector<int64_t> best_class(static_cast<size_t>(count));
  std::vector<Corners> c(static_cast<size_t>(count));
  for (int64_t i = 0; i < count; ++i) {
    const double* s = &scores[static_cast<size_t>(i * classes)];
    const auto top = std::max_element(s, s + classes);
    best[static_cast<size_t>(i)] = classes > 0 ? *top : -std::numeric_limits<double>::infinity();
    best_class[static_cast<size_t>(i)] = top - s;
    c[static_cast<size_t>(i)] = corners(&boxes[static_cast<size_t>(i * 4)]);
  }
  std::vector<int64_t> order(static_cast<size_t>(count));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return best[a] > best[b]; });
  std::vector<int64_t> kept;
  for (int64_t i : order) {
    if (static_cast<int64_t>(kept.size()) >= max_boxes) break;
    if (!(best[i] > score_threshold)) continue;
    bool suppressed = false;
    for (int64_t k : kept) {
      if ((!per_class || best_class[k] == best_class[i]) && iou(c[i], c[k]) > iou_threshold) {
        suppressed = true;
        break;
      }
    }
    if (!suppressed) kept.push_back(i);
  }
  if (kept.empty() && count > 0 && max_boxes > 0) kept.push_back(order.front());
  return kept;
}

void nms(runtime::OpContext& ctx) {
  const Tensor& boxes_in = ctx.in("boxes");
  const Tensor& scores_in = ctx.in("scores");
  const bool ios17 = !ctx.has_param("score_threshold");
  if (boxes_in.rank() != 3 || scores_in.rank() != 3) ctx.fail("boxes and scores must have rank 3");
  // Work in the iOS15 layout: [n, B, 4] and [n, B, K].
  const Tensor boxes_t = ios17 ? boxes_in.transpose(1, 2) : boxes_in;
  const Tensor scores_t = ios17 ? scores_in.transpose(1, 2) : scores_in;
  const int64_t n = boxes_t.shape()[0], count = boxes_t.shape()[1];
  const int64_t classes = scores_t.shape()[2];
  if (boxes_t.shape()[2] != 4 || scores_t.shape()[0] != n || scores_t.shape()[1] != count) {
    ctx.fail("boxes ", boxes_in.to_string(0), " and scores ", scores_in.to_string(0),
             " do not describe the same boxes");
  }
  const double iou_threshold = ctx.get_float("iou_threshold");
  const double score_threshold =
      ios17 ? -std::numeric_limits<double>::infinity() : ctx.get_float("score_threshold");
  const int64_t max_boxes = ctx.get_int("max_boxes");
  if (max_boxes < 0 || max_boxes > (1 << 24)) ctx.fail("max_boxes ", max_boxes, " is out of range");
  const bool per_class = ctx.get_bool("per_class_suppression", false);
  checked_output_elements(ctx, {n, max_boxes, std::max<int64_t>(classes, 4)});
  const auto boxes = load_f64(boxes_t);
  const auto scores = load_f64(scores_t);
  std::vector<double> out_boxes(static_cast<size_t>(n * max_boxes * 4), 0.0);
  std::vector<double> out_scores(static_cast<size_t>(n * max_boxes * classes), 0.0);
  std::vector<int64_t> out_indices(static_cast<size_t>(n * max_boxes), -1);
  std::vector<int64_t> out_counts(static_cast<size_t>(n), 0);
  for (int64_t b = 0; b < n; ++b) {
    const std::vector<double> bb(boxes.begin() + b * count * 4,
                                 boxes.begin() + (b + 1) * count * 4);
    const std::vector<double> ss(scores.begin() + b * count * classes,
                                 scores.begin() + (b + 1) * count * classes);
    const auto kept =
        select(bb, ss, count, classes, iou_threshold, score_threshold, max_boxes, per_class);
    for (size_t k = 0; k < kept.size(); ++k) {
      const int64_t slot = b * max_boxes + static_cast<int64_t>(k);
      std::copy_n(&bb[static_cast<size_t>(kept[k] * 4)], 4,
                  &out_boxes[static_cast<size_t>(slot * 4)]);
      std::copy_n(&ss[static_cast<size_t>(kept[k] * classes)], classes,
                  &out_scores[static_cast<size_t>(slot * classes)]);
      out_indices[static_cast<size_t>(slot)] = kept[k];
    }
    out_counts[static_cast<size_t>(b)] = static_cast<int64_t>(kept.size());
  }
  if (ios17) {
    // Back to [n, 4, M] and [n, K, M].
    std::vector<double> tb(out_boxes.size()), ts(out_scores.size());
    for (int64_t b = 0; b < n; ++b) {
      for (int64_t m = 0; m < max_boxes; ++m) {
        for (int64_t k = 0; k < 4; ++k)
          tb[static_cast<size_t>((b * 4 + k) * max_boxes + m)] =
              out_boxes[static_cast<size_t>((b * max_boxes + m) * 4 + k)];
        for (int64_t k = 0; k < classes; ++k)
          ts[static_cast<size_t>((b * classes + k) * max_boxes + m)] =
              out_scores[static_cast<size_t>((b * max_boxes + m) * classes + k)];
      }
    }
    emit(ctx, 0, {n, 4, max_boxes}, tb);
    emit(ctx, 1, {n, classes, max_boxes}, ts);
    emit(ctx, 2, {n, max_boxes}, out_indices);
    return;
  }
  emit(ctx, 0, {n, max_boxes, 4}, out_boxes);
  emit(ctx, 1, {n, max_boxes, classes}, out_scores);
  emit(ctx, 2, {n, max_boxes}, out_indices);
  emit(ctx, 3, {n}, out_counts);
}

}  // namespace

void register_detection_kernels(runtime::KernelRegistry& r) {
  r.add("non_maximum_suppression", nms);
}

}  // namespace coreml::kernels
