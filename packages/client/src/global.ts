// The IIFE bundle for a <script> tag: everything on one global, `Holdfast`.
export * from './index'
