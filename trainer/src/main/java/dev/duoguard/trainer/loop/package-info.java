/**
 * The two-player loop: the generator's prompts and corpus, sampling, filtering the samples the classifier gets wrong,
 * DPO, and the loop's report.
 *
 * <p>May depend on: runtime, trainer.data, trainer.engine, trainer.eval, trainer.hf, trainer.tokenizer, trainer.train.
 */
package dev.duoguard.trainer.loop;
