// Entry point of the companion proxy.
console.log('framefill proxy');
