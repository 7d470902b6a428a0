/**
 * Kubernetes-like names for a Deployment's pods: `<deployment>-<pod-template-hash>-<suffix>`, with the
 * alphabet Kubernetes uses for generated names. Derived from the template and the replica's index rather
 * than random, so that the same file always plans the same pods.
 */
import { createHash } from 'node:crypto';
import type { DeploymentSpec } from '../core/config/kinds/core.ts';

/** Kubernetes' alphabet for generated name parts: no vowels (no words) and no look-alike characters. */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function safeEncode(bytes: Buffer, length: number): string {
  let out = '';
  for (let index = 0; out.length < length; index++)
    out += SAFE_ALPHABET[bytes[index]! % SAFE_ALPHABET.length];
  return out;
}

/**
 * The `pod-template-hash` of a Deployment's template: a digest of the template, so that a changed template
 * gives new pod names and an unchanged one keeps them (a ReplicaSet's name suffix in Kubernetes).
 */
export function podTemplateHash(template: DeploymentSpec['template']): string {
  return safeEncode(createHash('sha256').update(JSON.stringify(template)).digest(), 10);
}

/** `<deployment>-<template hash>-<5 characters>`, as Kubernetes names a ReplicaSet's pods (here stable). */
export function deploymentPodName(deployment: string, hash: string, index: number): string {
  const suffix = safeEncode(createHash('sha256').update(`${deployment}/${hash}/${index}`).digest(), 5);
  return `${deployment}-${hash}-${suffix}`;
}
