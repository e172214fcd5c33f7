/**
 * The trainer's commands: train, eval, calibrate, export, loop, study, trainer-service, bench-train.
 *
 * <p>May depend on: the trainer packages, common, lifecycle, runtime and schemas: never streams-app, dev or embedded.
 */
package dev.duoguard.trainer.cli;
