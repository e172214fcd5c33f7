package dev.duoguard.trainer.eval;

import java.util.Arrays;
import java.util.Comparator;

/**
 * Binary guardrail metrics with unsafe as the positive class, as the DuoGuard paper reports them: precision,
 * recall and F1 at a threshold (0.5), the false-positive rate on safe items, and the area under the
 * precision-recall curve as average precision (Σ (R_k − R_{k−1}) P_k over the distinct score thresholds, the
 * definition scikit-learn uses). Undefined values are NaN: FPR without safe items, AUPRC without unsafe ones.
 * Precision with nothing flagged is 0 (and so is F1), as scikit-learn's {@code zero_division=0}.
 */
public record Metrics(int n, int unsafe, int tp, int fp, int fn, int tn, double auprc) {

    public static Metrics of(float[] scores, boolean[] unsafe, double threshold) {
        if (scores.length != unsafe.length) {
            throw new IllegalArgumentException(scores.length + " scores for " + unsafe.length + " labels");
        }
        int tp = 0, fp = 0, fn = 0, tn = 0;
        for (int i = 0; i < scores.length; i++) {
            boolean flagged = scores[i] > threshold;
            if (unsafe[i]) {
                if (flagged) tp++;
                else fn++;
            } else {
                if (flagged) fp++;
                else tn++;
            }
        }
        return new Metrics(scores.length, tp + fn, tp, fp, fn, tn, averagePrecision(scores, unsafe));
    }

    /**
     * Metrics of decisions made elsewhere ({@code flagged}: any category above its threshold for the item's
     * language); {@code scores} (max category probability) only rank, for AUPRC.
     */
    public static Metrics of(float[] scores, boolean[] flagged, boolean[] unsafe) {
        if (scores.length != unsafe.length || flagged.length != unsafe.length) {
            throw new IllegalArgumentException(
                    scores.length + " scores and " + flagged.length + " decisions for " + unsafe.length + " labels");
        }
        int tp = 0, fp = 0, fn = 0, tn = 0;
        for (int i = 0; i < scores.length; i++) {
            if (unsafe[i]) {
                if (flagged[i]) tp++;
                else fn++;
            } else {
                if (flagged[i]) fp++;
                else tn++;
            }
        }
        return new Metrics(scores.length, tp + fn, tp, fp, fn, tn, averagePrecision(scores, unsafe));
    }

    static double averagePrecision(float[] scores, boolean[] unsafe) {
        int positives = 0;
        for (boolean u : unsafe) {
            positives += u ? 1 : 0;
        }
        if (positives == 0) {
            return Double.NaN;
        }
        Integer[] order = new Integer[scores.length];
        Arrays.setAll(order, i -> i);
        Arrays.sort(order, Comparator.comparingDouble((Integer i) -> scores[i]).reversed());
        double ap = 0;
        double previousRecall = 0;
        int tp = 0;
        int seen = 0;
        for (int k = 0; k < order.length; ) {
            float s = scores[order[k]];
            while (k < order.length && scores[order[k]] == s) { // a tie is one threshold
                tp += unsafe[order[k]] ? 1 : 0;
                seen++;
                k++;
            }
            double recall = tp / (double) positives;
            ap += (recall - previousRecall) * (tp / (double) seen);
            previousRecall = recall;
        }
        return ap;
    }

    public int safe() {
        return n - unsafe;
    }

    public double precision() {
        return tp + fp == 0 ? 0 : tp / (double) (tp + fp);
    }

    public double recall() {
        return unsafe == 0 ? Double.NaN : tp / (double) unsafe;
    }

    public double f1() {
        if (unsafe == 0) {
            return Double.NaN;
        }
        double p = precision();
        double r = recall();
        return p + r == 0 ? 0 : 2 * p * r / (p + r);
    }

    public double fpr() {
        return safe() == 0 ? Double.NaN : fp / (double) safe();
    }

    /**
     * How reports write these metrics: the counts and the rates derived from them, an undefined rate as null (JSON
     * has no NaN).
     */
    public record Report(
            int n,
            int unsafe,
            Double precision,
            Double recall,
            Double f1,
            Double fpr,
            Double auprc,
            int tp,
            int fp,
            int fn,
            int tn) {}

    public Report report() {
        return new Report(
                n,
                unsafe,
                finite(precision()),
                finite(recall()),
                finite(f1()),
                finite(fpr()),
                finite(auprc),
                tp,
                fp,
                fn,
                tn);
    }

    /** JSON has no NaN: undefined values are written as null. */
    public static Double finite(double v) {
        return Double.isNaN(v) ? null : v;
    }
}
