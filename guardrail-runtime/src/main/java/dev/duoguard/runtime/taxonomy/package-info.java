/**
 * DuoGuard's 12 safety categories, their names and order (the order of the classifier's outputs).
 *
 * <p>May depend on: nothing of the project; every other package may depend on this one.
 */
package dev.duoguard.runtime.taxonomy;
