/**
 * A model bundle on disk: its manifest (architecture, thresholds, hashes of every file), loading and verification;
 * {@link dev.duoguard.runtime.bundle.InvalidBundleException} names what is wrong with a bundle.
 *
 * <p>May depend on: runtime.taxonomy.
 */
package dev.duoguard.runtime.bundle;
