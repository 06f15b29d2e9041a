export async function renderReport() {}
